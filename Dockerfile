# The order intake (README: "The intake container"): POST /v1/orders, GET /healthz on port 8080.
# Settings come only from the environment (GIFT_LEDGER_URL, GIFT_ENVELOPE_KEY, GIFT_WEBHOOK_SECRET, and for
# dispatching GIFT_QUEUE, GIFT_DISPATCH_TOKEN, GITHUB_REPOSITORY); nothing secret is baked in. No git, no ssh.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
COPY builder ./builder

# exactly the locked versions, hash-checked, then the project itself without resolving anything
RUN python -m pip install --require-hashes --no-deps -r requirements.lock \
 && python -m pip install --no-deps --no-build-isolation . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin intake

USER 10001
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["python", "-m", "builder"]
CMD ["intake", "serve", "--host", "0.0.0.0", "--port", "8080"]
