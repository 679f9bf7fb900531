"""Telephony configurations and their phone numbers: every change is committed first, then
applied to the ARI side (the link supervisor opens, moves or closes the configuration's link)."""
from __future__ import annotations

from data.configs import ConfigFields
from data.models import PhoneNumber, TelephonyConfig
from web.forms import NumberFields
from web.state import AppState
from web.telephony import StatusView


async def create_config(state: AppState, org: int, fields: ConfigFields) -> TelephonyConfig:
    """Raises `data.errors.Conflict` when the name or the Stasis app is taken."""
    config = await state.store.configs.create(org, fields)
    await state.telephony.apply(config.id)
    return config


async def update_config(state: AppState, org: int, config_id: int, fields: ConfigFields) -> TelephonyConfig | None:
    """The saved configuration, or None when it is not the organisation's."""
    config = await state.store.configs.update(org, config_id, fields)
    if config is not None:
        await state.telephony.apply(config.id)
    return config


async def delete_config(state: AppState, org: int, config_id: int) -> None:
    await state.store.configs.delete(org, config_id)
    await state.telephony.remove(config_id)


def status_of(state: AppState, config: TelephonyConfig) -> StatusView:
    return state.telephony.status(config.id, config.enabled)


async def owns_workflow(state: AppState, org: int, fields: NumberFields) -> bool:
    """False when the number names an inbound workflow that is not the organisation's."""
    workflow_id = fields.inbound_workflow_id
    return workflow_id is None or await state.store.workflows.get(org, workflow_id) is not None


async def create_number(state: AppState, org: int, config_id: int, fields: NumberFields) -> PhoneNumber:
    """Raises `data.errors.Conflict` when the address is taken on this configuration."""
    return await state.store.numbers.create(org, config_id, fields.address, fields.label, fields.inbound_workflow_id)


async def update_number(state: AppState, org: int, config_id: int, number_id: int,
                        fields: NumberFields) -> PhoneNumber | None:
    return await state.store.numbers.update(org, config_id, number_id, fields.address, fields.label,
                                            fields.inbound_workflow_id)


async def delete_number(state: AppState, org: int, config_id: int, number_id: int) -> None:
    await state.store.numbers.delete(org, config_id, number_id)
