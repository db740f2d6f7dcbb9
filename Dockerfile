FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY tasks ./tasks
COPY config ./config
RUN pip install --no-cache-dir . && useradd --create-home newswire \
    && mkdir -p /data && chown newswire /data
USER newswire
ENV NEWSWIRE_DATA_DIR=/data NEWSWIRE_SOURCES=/app/config/sources.yaml NEWSWIRE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["newswire"]
CMD ["run"]
