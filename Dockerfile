# opswarden worker image: the `opswarden` command (worker, topics, send, replay) on Python 3.11.
# The install steps are the README's (docs/install.md, between the `install` markers); a test keeps them equal.
# They run in a build stage that has a C compiler (the Cython build of the per-event modules, `compiled/`);
# the image itself gets the virtual environment they filled, without the compiler.
FROM python:3.11-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/opswarden/venv
ENV PATH=/opt/opswarden/venv/bin:$PATH
WORKDIR /opt/opswarden/src
COPY pyproject.toml README.md ./
COPY models ./models
COPY detectors ./detectors
COPY streams ./streams
COPY compiled ./compiled

RUN python -m pip install --upgrade pip==25.3
RUN python -m pip install '.[compiled]'
RUN cd / && python -m compiled.build

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/opswarden/venv/bin:$PATH
COPY --from=build /opt/opswarden/venv /opt/opswarden/venv

RUN useradd --system --home-dir /var/lib/opswarden --create-home opswarden
USER opswarden
WORKDIR /var/lib/opswarden
ENV OPSWARDEN_DATA_DIR=/var/lib/opswarden

# Prometheus metrics (OPSWARDEN_METRICS_PORT).
EXPOSE 9464
ENTRYPOINT ["opswarden"]
CMD ["worker"]
