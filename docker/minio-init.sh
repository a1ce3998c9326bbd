#!/bin/sh
# docker/minio-init.sh - one-shot: create the media bucket in MinIO (run by the
# minio-init service of docker-compose.yml with the minio/mc image).
# Idempotent: an existing bucket is kept.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
bucket="${PARLEY_S3_BUCKET:-parley}"
i=0
until mc alias set parley http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "minio-init: MinIO did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done
mc mb --ignore-existing "parley/$bucket"
echo "minio-init: bucket $bucket ready"
