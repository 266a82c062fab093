# netaudit (collector, worker, beat, db upgrade). Build from the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t aks-netaudit/collector:0.1.0 .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY . .
# Wheels of the project and its [collector] dependencies at the versions in constraints.txt.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt '.[collector]'

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp netaudit
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'aks-netaudit[collector]' \
    && rm -rf /wheels
USER 10001:10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 50051 50052 9000
ENTRYPOINT ["netaudit"]
CMD ["serve"]
