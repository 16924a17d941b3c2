#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs tickcast-server
# on its defaults (http://127.0.0.1:8080). Extra arguments go to the server.
#
#   scripts/run.sh --tls [server flags]   serve https/wss (and HTTP/2) with a self-signed
#                                         certificate for localhost, made on first use in
#                                         tickcast-tls/ (openssl), and say how to trust it
#   scripts/run.sh --tls --auth-secret tickcast-tls/secret.txt
#                                         also require room tokens; the secret is made on
#                                         first use, and a token is printed for the page
set -euo pipefail
cd "$(dirname "$0")/.."
TICKCAST_SETUP_NODE=0 scripts/setup.sh
scripts/build.sh default tickcast-server tickcast-client tickcast-token

server=build/default/examples/pomodoro-server/tickcast-server
args=()
tls=0
secret=""
port=8080
while (($#)); do
  case $1 in
    --port) port=$2; args+=("$1" "$2"); shift ;;
    --tls) tls=1 ;;
    --auth-secret) secret=$2; args+=("$1" "$2"); shift ;;
    --auth-secret=*) secret=${1#*=}; args+=("$1") ;;
    *) args+=("$1") ;;
  esac
  shift
done

if ((tls)); then
  dir=tickcast-tls
  mkdir -p "$dir"
  if [[ ! -f $dir/localhost.pem || ! -f $dir/localhost-key.pem ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
      -keyout "$dir/localhost-key.pem" -out "$dir/localhost.pem" -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE \
      2>/dev/null
    chmod 600 "$dir/localhost-key.pem"
    cat <<MSG
run.sh: made a self-signed certificate for localhost: $dir/localhost.pem
  Browsers warn about it until you trust it, for example:
    Chromium/Chrome (Linux): certutil -d sql:\$HOME/.pki/nssdb -A -t "C,," -n tickcast -i $dir/localhost.pem
    Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
    Debian system-wide (curl, ...): cp $dir/localhost.pem /usr/local/share/ca-certificates/tickcast.crt && update-ca-certificates
    curl, once: curl --cacert $dir/localhost.pem https://localhost:$port/healthz
  Reload a renewed certificate without dropping connections: kill -HUP <server pid>
MSG
  fi
  args=(--tls-cert "$dir/localhost.pem" --tls-key "$dir/localhost-key.pem" "${args[@]}")
fi

if [[ -n $secret ]]; then
  if [[ ! -f $secret ]]; then
    mkdir -p "$(dirname "$secret")"
    head -c 32 /dev/urandom | base64 >"$secret"
    chmod 600 "$secret"
    echo "run.sh: made a random HS256 secret in $secret"
  fi
  token=$(build/default/examples/tickcast-token/tickcast-token --secret "$secret" --room '*' \
    --perm subscribe,command --ttl 12h --sub run.sh)
  scheme=http
  ((tls)) && scheme=https
  echo "run.sh: a token for every room, valid 12 h (mint more with tickcast-token --help):"
  echo "  $scheme://localhost:$port/?room=focus&token=$token"
fi

exec "$server" "${args[@]}"
