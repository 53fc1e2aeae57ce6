#!/usr/bin/env bash
# Entry point of the images:
#   lab (default)   JupyterLab on port 8888, always behind a token
#   report          the headless main job (README), then exit
#   anything else   run as a command (e.g. "ddpm info", "bash")
set -euo pipefail
cd /home/ddpm/ddpm
case "${1:-lab}" in
  lab)
    if [[ -z "${JUPYTER_TOKEN:-}" ]]; then
      JUPYTER_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
      echo "No JUPYTER_TOKEN given; generated one: $JUPYTER_TOKEN"
    fi
    export JUPYTER_TOKEN
    exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser \
      --IdentityProvider.token="$JUPYTER_TOKEN" --ServerApp.root_dir=/home/ddpm/ddpm
    ;;
  report) shift; exec ./scripts/main.sh "$@" ;;
  *) exec "$@" ;;
esac
