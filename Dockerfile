# Image for the worker and the exporter (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first (cached while only the code changes): install the pinned
# versions of everything the package needs, then the package itself.
COPY pyproject.toml constraints.txt README.md ./
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
RUN pip install -c constraints.txt -r /tmp/requirements.txt

COPY pipeline ./pipeline
COPY schemas ./schemas
COPY rules_config ./rules_config
RUN pip install --no-deps -c constraints.txt . && useradd --system --home /app cg && mkdir -p /app/var /app/exports && chown cg /app/var /app/exports
USER cg

CMD ["customer-groups", "worker"]
