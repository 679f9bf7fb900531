# Switchboard in one container: python app.py, the database on a volume.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_PORT=8000 SWITCHBOARD_DB=/data/switchboard.db
WORKDIR /app
# Same requirements file and pip command as .ci/run.
COPY requirements.txt .
RUN python3 -m pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --uid 10001 --home /app switchboard && mkdir -p /data && chown switchboard /data
USER switchboard
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["python3", "app.py", "--host", "0.0.0.0"]
