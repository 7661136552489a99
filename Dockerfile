# Custodia, embedded tier: one process, SQLite + Whoosh + keyring file in the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CUSTODIA_DATA_DIR=/data

RUN useradd --system --create-home --home-dir /home/custodia --uid 10001 custodia \
    && mkdir -p /data /app \
    && chown custodia:custodia /data \
    && chmod 0700 /data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY service ./service
COPY cli ./cli
COPY verifier ./verifier
COPY migrations ./migrations
COPY schemas ./schemas
RUN pip install --editable . && chown -R root:root /app

USER custodia
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# Inside the container the service must listen on all interfaces; publish the port only to
# a trusted network or a TLS-terminating proxy.
CMD ["custodia", "serve", "--init-if-needed", "--host", "0.0.0.0", "--port", "8000"]
