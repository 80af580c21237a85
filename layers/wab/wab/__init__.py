"""The WhatsApp Business gateway's shared package: models, normalisation, storage, publishing, provider access."""
