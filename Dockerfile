# riskstream worker / simulator image (used by docker-compose.yml).
#   docker build -t riskstream:local .
#   docker run --rm -e RISKSTREAM_KAFKA_BOOTSTRAP=host:9092 riskstream:local riskstream worker
FROM python:3.11-slim

# Bytecode is compiled at install time (no PYTHONDONTWRITEBYTECODE): the worker runs as a user
# that cannot write site-packages, and recompiling every import slows each start by seconds.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . /src
RUN pip install . \
 && useradd --create-home --uid 10001 riskstream \
 && mkdir -p /var/lib/riskstream \
 && chown riskstream:riskstream /var/lib/riskstream

USER riskstream
# Faust keeps its table state under the working directory.
WORKDIR /var/lib/riskstream
EXPOSE 6066
CMD ["riskstream", "worker"]
