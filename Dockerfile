# The segflow worker image used by docker-compose.yml. Production talks to real PostgreSQL and
# Kafka, so the embedded extra is not installed.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY segflow segflow
COPY engine engine
COPY nodes nodes
COPY consumers consumers
COPY schemas schemas
COPY db db
COPY integrations integrations
RUN pip install --no-cache-dir . && useradd --system segflow
USER segflow
CMD ["segflow", "worker"]
