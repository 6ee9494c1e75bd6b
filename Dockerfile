# The fingerpost HTTP service: docker build -t fingerpost . && docker run -p 8000:8000 -v "$PWD/routes.yaml:/data/routes.yaml:ro" fingerpost
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[server]" && useradd --create-home fingerpost
USER fingerpost

EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["fingerpost", "serve", "--routes", "/data/routes.yaml", "--host", "0.0.0.0", "--port", "8000"]
