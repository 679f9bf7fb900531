# Switchboard in one container: `python app.py` as a non-root user; the database, its recordings
# and its backups on the one /data volume.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_PORT=8000 SWITCHBOARD_DB=/data/switchboard.db
WORKDIR /app
# The runtime only (no test tools), every version pinned by constraints.txt, no pip cache kept.
COPY requirements.txt constraints.txt ./
RUN python3 -m pip install --no-cache-dir -q -r requirements.txt
# .dockerignore keeps .git, venvs, var/, caches, tests and benchmarks out.
COPY . .
# /data holds switchboard.db, secret.key, recordings/ and backups/ (SWITCHBOARD_BACKUP_DIR default).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin switchboard \
    && mkdir -p /data && chown switchboard:switchboard /data
USER switchboard
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD python3 -c "import os,sys,urllib.request; port = os.environ.get('SWITCHBOARD_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"
# SIGTERM: live calls are hung up and their runs finished before the process exits
# (web/serving.py); give it time with `docker stop -t 30`.
STOPSIGNAL SIGTERM
CMD ["python3", "app.py"]
