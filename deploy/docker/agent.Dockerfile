# netaudit-agent, with the [agent] extra only (no Celery, Azure SDK or database drivers).
# Build from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t aks-netaudit/agent:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt '.[agent]'

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp netaudit
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'aks-netaudit[agent]' \
    && rm -rf /wheels
USER 10001:10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 9102
ENTRYPOINT ["netaudit-agent"]
CMD ["run"]
