#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x (KRaft) broker from Maven Central jars -- no Docker, no tarball.
#
# Usage: scripts/kafka-local.sh {fetch|start [--port N] [--secure]|stop|status|reset|tool NAME [ARGS...]}
#
#   fetch           download the broker and tools jars (mvn dependency:copy-dependencies) into
#                   ${RISKSTREAM_CACHE:-$HOME/.cache/riskstream}/kafka-<version>/libs (once; cached)
#   start [--port N]
#                   fetch if needed, format storage if needed, start the broker in the background,
#                   wait until it answers Kafka requests, print KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:<port>
#                   as the last stdout line (also written to <state>/bootstrap). A no-op (prints the
#                   bootstrap again) when a broker of this state dir is already running.
#                   Port: --port N, else $KAFKA_PORT, else 9092; 0 = pick a free port.
#   stop            SIGTERM, wait up to 30 s, then SIGKILL. Safe when not running.
#   status          exit 0 and print the bootstrap line if running and answering, else exit 1.
#   reset           stop and delete the data dir (next start formats fresh storage).
#   tool NAME [ARGS...]
#                   run one of Kafka's own command-line tools from the same jars (fetched if needed):
#                   topics, console-consumer, console-producer, consumer-groups, get-offsets,
#                   broker-api-versions, delete-records, configs (a "kafka-" prefix or ".sh" suffix
#                   is accepted: kafka-topics.sh = topics), or a fully qualified main class. Without
#                   --bootstrap-server, the named tools get this state dir's running broker.
#                   `tool` alone lists the names. Examples:
#                     scripts/kafka-local.sh tool topics --list
#                     scripts/kafka-local.sh tool consumer-groups --describe --group riskstream
#
# Environment:
#   RISKSTREAM_CACHE       jar cache root            (default $HOME/.cache/riskstream)
#   RISKSTREAM_KAFKA_HOME  state dir: data, logs, pid, server.properties, bootstrap
#                          (default $RISKSTREAM_CACHE/kafka-run). One broker per state dir; several
#                          state dirs can run at once (use port 0 for all but one).
#   KAFKA_PORT             client port (default 9092; 0 = free port)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default: port+1 if free, else a free port)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#   KAFKA_HEAP_OPTS        JVM heap (default "-Xms256m -Xmx768m")
#   KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL on stop (default 30)
#   KAFKA_TOOL_HEAP_OPTS   JVM heap of a tool (default "-Xmx512m")
#   JAVA_HOME              used to find java if set
#   KAFKA_SECURE           1 = secure mode for every command (same as --secure)
#
# Secure mode: `start --secure` (or KAFKA_SECURE=1 ... start) starts a broker whose client listener
# requires TLS and a SASL/SCRAM-SHA-512 login. The default state dir is then
# $RISKSTREAM_CACHE/kafka-secure-run and the default port 9094, so it runs beside a plain broker on
# 9092; give the other commands --secure too (`stop --secure`, `tool --secure topics --list`), or the
# same RISKSTREAM_KAFKA_HOME (a state dir set up secure stays secure). On the first start it makes,
# in <state>/security (mode 700): a CA (ca.pem), the broker's key and certificate for 127.0.0.1 and
# localhost signed by it, a client certificate for mutual TLS (client.pem, client.key), and random
# passwords (mode 600, never printed) of two SCRAM users created when storage is formatted: admin
# (the broker's own) and riskstream (for clients). Every start writes <state>/security/client.env,
# the RISKSTREAM_KAFKA_* settings of a client (`source` it; the password stays in its file), and
# client.properties for Kafka's own tools (`tool` passes it). Before the bootstrap line, start prints
# KAFKA_CLIENT_ENV=<path of client.env>. `reset` deletes the security dir with the data (new users
# and passwords on the next start). The controller listener stays PLAINTEXT on 127.0.0.1.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
KAFKA_DEPLOY_DIR="$REPO_ROOT/deploy/kafka"
POM="$KAFKA_DEPLOY_DIR/pom.xml"
TEMPLATE="$KAFKA_DEPLOY_DIR/server.properties.template"
LOG4J_CONF="$KAFKA_DEPLOY_DIR/log4j2.properties"
TOOLS_LOG4J_CONF="$KAFKA_DEPLOY_DIR/tools-log4j2.properties"

RISKSTREAM_CACHE="${RISKSTREAM_CACHE:-$HOME/.cache/riskstream}"
# Secure mode: KAFKA_SECURE=1, `start ... --secure`, or `--secure` right after another command.
case "${KAFKA_SECURE:-0}" in 1 | true | yes) SECURE=1 ;; *) SECURE=0 ;; esac
case "${1:-}" in
  start) for _arg in "${@:2}"; do [[ "$_arg" != --secure ]] || SECURE=1; done ;;
  stop | status | reset | tool) [[ "${2:-}" != --secure ]] || SECURE=1 ;;
esac
if ((SECURE)); then
  STATE_DIR="${RISKSTREAM_KAFKA_HOME:-$RISKSTREAM_CACHE/kafka-secure-run}"
else
  STATE_DIR="${RISKSTREAM_KAFKA_HOME:-$RISKSTREAM_CACHE/kafka-run}"
fi
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

log() { echo "kafka-local: $*" >&2; }
die() { echo "kafka-local: ERROR: $*" >&2; exit 1; }

[[ -f "$POM" ]] || die "missing $POM (run this script from a riskstream checkout)"

# Single source of truth for the version: the pom.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
[[ -n "$KAFKA_VERSION" ]] || die "could not read <kafka.version> from $POM"
LIBS_PARENT="$RISKSTREAM_CACHE/kafka-$KAFKA_VERSION"
LIBS_DIR="$LIBS_PARENT/libs"
LIBS_MARKER="$LIBS_DIR/.complete"

DATA_DIR="$STATE_DIR/data"
LOGS_DIR="$STATE_DIR/logs"
PID_FILE="$STATE_DIR/kafka.pid"
PROPS_FILE="$STATE_DIR/server.properties"
BOOTSTRAP_FILE="$STATE_DIR/bootstrap"
SERVER_LOG="$LOGS_DIR/server.out"
SECURITY_DIR="$STATE_DIR/security"
SECURE_TEMPLATE="$KAFKA_DEPLOY_DIR/server-secure.properties.template"
CLIENT_USER=riskstream
# A state dir set up secure stays secure: its storage holds the SCRAM users.
[[ ! -f "$SECURITY_DIR/ca.pem" ]] || SECURE=1
if ((SECURE)); then DEFAULT_PORT=9094; else DEFAULT_PORT=9092; fi

# ---------------------------------------------------------------- prerequisites
need_python() {
  command -v python3 >/dev/null 2>&1 ||
    die "python3 not found: install Python 3 (apt-get install python3); it is used to pick ports and probe the broker"
}

JAVA_BIN=""
need_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    JAVA_BIN="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA_BIN="$(command -v java)"
  else
    die "java not found: install OpenJDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
  fi
  local ver major
  ver="$("$JAVA_BIN" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${ver%%.*}"
  if [[ "$major" == "1" ]]; then major="$(echo "$ver" | cut -d. -f2)"; fi
  if [[ "$major" =~ ^[0-9]+$ ]] && (( major < 17 )); then
    die "java $ver at $JAVA_BIN is too old: Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless, then set JAVA_HOME)"
  fi
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found: install Maven 3 (apt-get install maven); it downloads the Kafka jars from Maven Central once"
}

# ---------------------------------------------------------------- fetch
pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jar_count() { find "$LIBS_DIR" -maxdepth 1 -name '*.jar' | wc -l; }

libs_complete() {
  [[ -f "$LIBS_MARKER" ]] && [[ "$(cat "$LIBS_MARKER")" == "$(pom_hash)" ]]
}

cmd_fetch() {
  if libs_complete; then
    log "Kafka $KAFKA_VERSION jars already in $LIBS_DIR ($(jar_count) jars); nothing to fetch"
    return 0
  fi
  need_mvn
  mkdir -p "$LIBS_PARENT"
  # Serialise concurrent fetches (e.g. parallel test sessions) on one lock.
  exec 8>"$LIBS_PARENT/.fetch.lock"
  flock 8
  if libs_complete; then   # another process finished while we waited
    exec 8>&-
    log "Kafka $KAFKA_VERSION jars already in $LIBS_DIR"
    return 0
  fi
  local tmp="$LIBS_PARENT/libs.tmp.$$"
  rm -rf "$tmp"
  log "fetching Kafka $KAFKA_VERSION broker and tools jars from Maven Central into $LIBS_DIR"
  log "+ mvn -B -q -Dstyle.color=never -f $POM dependency:copy-dependencies -DoutputDirectory=$tmp"
  local t0=$SECONDS
  # (Debian's mvn 3.8 prints bare ESC[0m resets even with -B; strip them. pipefail keeps mvn's status.)
  if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 |
      sed 's/\x1b\[0m//g' >&2; then
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (see output above): check network access to Maven Central and ~/.m2/settings.xml"
  fi
  local jar
  for jar in kafka_2.13 kafka-tools; do
    ls "$tmp/$jar-$KAFKA_VERSION.jar" >/dev/null 2>&1 || { rm -rf "$tmp"; die "$jar-$KAFKA_VERSION.jar missing after mvn; check $POM"; }
  done
  pom_hash >"$tmp/.complete"
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  exec 8>&-
  log "fetched $(jar_count) jars ($(du -sh "$LIBS_DIR" | cut -f1)) in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- helpers
free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_free() {  # port_free PORT -> 0 if we can bind 127.0.0.1:PORT
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# probe HOST PORT [TIMEOUT]: a real Kafka round trip using only the stdlib.
# ApiVersions v0 must answer error_code 0, then (secure mode: over TLS checked against the state's CA,
# after a SASL/SCRAM-SHA-512 login as the client user) Metadata (v4..v8, non-flexible) must list >= 1 broker,
# then FindCoordinator (v1..v2) must name a group coordinator. The first FindCoordinator creates
# __consumer_offsets; until it is loaded, the first worker's group join and commits meet
# COORDINATOR_NOT_AVAILABLE, so "ready" waits for it rather than leaving that to the first worker.
probe() {
  local -a penv=()
  if ((SECURE)); then
    penv=("PROBE_CAFILE=$SECURITY_DIR/ca.pem" "PROBE_USER=$CLIENT_USER"
      "PROBE_PASSWORD_FILE=$SECURITY_DIR/$CLIENT_USER.password")
  fi
  env ${penv[@]+"${penv[@]}"} python3 - "$1" "$2" "${3:-3}" <<'PY'
import os, socket, struct, sys

host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
CLIENT = b"riskstream-probe"
CAFILE, USER = os.environ.get("PROBE_CAFILE"), os.environ.get("PROBE_USER")

def call(sock, api_key, api_version, corr, body=b""):
    hdr = struct.pack(">hhih", api_key, api_version, corr, len(CLIENT)) + CLIENT
    msg = hdr + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    def recv(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by broker")
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", recv(4))
    data = recv(size)
    (rcorr,) = struct.unpack(">i", data[:4])
    if rcorr != corr:
        raise ValueError("correlation id mismatch")
    return data[4:]

def scram_login(sock, user, password):
    """SaslHandshake v1 + SaslAuthenticate v0 with SCRAM-SHA-512 (RFC 5802), as Kafka clients do."""
    import base64, hashlib, hmac, secrets
    mech = b"SCRAM-SHA-512"
    r = call(sock, 17, 1, 10, struct.pack(">h", len(mech)) + mech)
    (err,) = struct.unpack(">h", r[:2])
    if err != 0:
        raise ValueError("SaslHandshake error_code %d (is SCRAM-SHA-512 enabled?)" % err)

    def authenticate(corr, payload):
        r = call(sock, 36, 0, corr, struct.pack(">i", len(payload)) + payload)
        (err, mlen) = struct.unpack(">hh", r[:4])
        pos = 4 + max(mlen, 0)
        if err != 0:
            raise ValueError("SASL login refused (error_code %d): %s" % (err, r[4:pos].decode(errors="replace")))
        (blen,) = struct.unpack(">i", r[pos:pos + 4])
        return r[pos + 4:pos + 4 + blen].decode()

    nonce = secrets.token_hex(16)
    bare = "n=%s,r=%s" % (user, nonce)
    first = authenticate(11, ("n,," + bare).encode())
    fields = dict(item.split("=", 1) for item in first.split(","))
    if not fields.get("r", "").startswith(nonce):
        raise ValueError("SCRAM: the server's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    without_proof = "c=biws,r=" + fields["r"]
    auth_message = ",".join((bare, first, without_proof)).encode()
    signature = hmac.new(hashlib.sha512(client_key).digest(), auth_message, "sha512").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    last = authenticate(12, (without_proof + ",p=" + proof).encode())
    server_key = hmac.new(salted, b"Server Key", "sha512").digest()
    if last != "v=" + base64.b64encode(hmac.new(server_key, auth_message, "sha512").digest()).decode():
        raise ValueError("SCRAM: the server's signature is wrong")

try:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        if CAFILE:
            import ssl
            s = ssl.create_default_context(cafile=CAFILE).wrap_socket(s, server_hostname=host)
        r = call(s, 18, 0, 1)                      # ApiVersions v0
        (err, n) = struct.unpack(">hi", r[:6])
        if err != 0:
            raise ValueError("ApiVersions error_code %d" % err)
        versions = {}
        for i in range(n):
            k, lo, hi = struct.unpack(">hhh", r[6 + 6 * i: 12 + 6 * i])
            versions[k] = (lo, hi)
        if USER:
            with open(os.environ["PROBE_PASSWORD_FILE"], encoding="utf-8") as f:
                scram_login(s, USER, f.readline().rstrip("\r\n"))
        lo, hi = versions.get(3, (0, -1))          # Metadata
        v = min(hi, 8)
        if v >= 4 and v >= lo:
            body = struct.pack(">ib", 0, 0)        # topics=[] , allow_auto_topic_creation=false
            if v >= 8:
                body += struct.pack(">bb", 0, 0)   # include_{cluster,topic}_authorized_operations
            r = call(s, 3, v, 2, body)
            (_throttle, nbrokers) = struct.unpack(">ii", r[:8])
            if nbrokers < 1:
                raise ValueError("metadata lists no brokers yet")
        lo, hi = versions.get(10, (0, -1))         # FindCoordinator
        v = min(hi, 2)
        if v >= 1 and v >= lo:
            group = b"riskstream-probe"
            body = struct.pack(">h", len(group)) + group + struct.pack(">b", 0)  # key, key_type=group
            r = call(s, 10, v, 3, body)
            (_throttle, err) = struct.unpack(">ih", r[:6])
            if err != 0:
                raise ValueError("no group coordinator yet (error_code %d)" % err)
except Exception as e:  # noqa: BLE001 - any failure means "not answering"
    print("probe %s:%d: %s" % (host, port, e), file=sys.stderr)
    sys.exit(1)
PY
}

# pid of the broker of this state dir if it is alive (and really is our java), else empty
running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # guard against a recycled pid: the command line must name our server.properties
  if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$PROPS_FILE"; then
    return 0
  fi
  echo "$pid"
}

configured_port() {  # client port from the generated server.properties
  [[ -f "$PROPS_FILE" ]] || return 0
  sed -n 's|^advertised.listeners=[A-Z_]*://127.0.0.1:\([0-9]*\).*|\1|p' "$PROPS_FILE" | head -n1
}

print_bootstrap() {
  local line="KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$1"
  echo "$line" >"$BOOTSTRAP_FILE"
  echo "$line"
}

server_log_tail() {
  if [[ -f "$SERVER_LOG" ]]; then
    echo "----- last 40 lines of $SERVER_LOG -----" >&2
    tail -n 40 "$SERVER_LOG" >&2 || true
    echo "-----" >&2
  fi
}

# wait_ready PID PORT: until probe succeeds, the process dies, or the timeout passes
wait_ready() {
  local pid="$1" port="$2" deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      server_log_tail
      rm -f "$PID_FILE"
      die "broker (pid $pid) exited during startup; see $SERVER_LOG (try '$0 reset' if the data dir is broken, or another --port)"
    fi
    if probe 127.0.0.1 "$port" 2 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  server_log_tail
  die "broker (pid $pid) did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; see $SERVER_LOG (it is still running: '$0 stop' to stop it, or raise KAFKA_START_TIMEOUT)"
}

# ---------------------------------------------------------------- secure mode
need_openssl() {
  command -v openssl >/dev/null 2>&1 ||
    die "openssl not found: install it (apt-get install openssl); secure mode makes its CA and certificates with it"
}

# make_certs: the CA, the broker's key + certificate (127.0.0.1, localhost) and a client certificate,
# once per state dir. Keys are mode 600 in a mode-700 dir; nothing secret is printed.
make_certs() {
  [[ -f "$SECURITY_DIR/broker-keystore.pem" && -f "$SECURITY_DIR/client.pem" ]] && return 0
  need_openssl
  log "creating a CA and certificates for 127.0.0.1/localhost in $SECURITY_DIR"
  local d="$SECURITY_DIR" out="$LOGS_DIR/openssl.out"
  # (one && chain: `set -e` does not apply inside a command whose status an `if` tests)
  if ! (
    umask 077 &&
    openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes -keyout "$d/ca.key" -out "$d/ca.pem.tmp" \
      -subj "/CN=riskstream local Kafka CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" -subj "/CN=localhost" &&
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth" >"$d/broker.ext" &&
    openssl x509 -req -sha256 -days 825 -in "$d/broker.csr" -CA "$d/ca.pem.tmp" -CAkey "$d/ca.key" \
      -CAcreateserial -out "$d/broker.crt" -extfile "$d/broker.ext" &&
    cat "$d/broker.key" "$d/broker.crt" "$d/ca.pem.tmp" >"$d/broker-keystore.pem" &&
    openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=$CLIENT_USER" &&
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >"$d/client.ext" &&
    openssl x509 -req -sha256 -days 825 -in "$d/client.csr" -CA "$d/ca.pem.tmp" -CAkey "$d/ca.key" \
      -CAcreateserial -out "$d/client.pem" -extfile "$d/client.ext" &&
    rm -f "$d"/*.csr "$d"/*.ext &&
    chmod 644 "$d/ca.pem.tmp" "$d/broker.crt" "$d/client.pem" &&
    mv "$d/ca.pem.tmp" "$d/ca.pem"
  ) >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$d/ca.pem" "$d/ca.pem.tmp" "$d/broker-keystore.pem" "$d/client.pem"
    die "creating the certificates failed (openssl output above)"
  fi
}

# new_password NAME: a random password in $SECURITY_DIR/NAME.password (mode 600), never printed
new_password() {
  (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' >"$SECURITY_DIR/$1.password")
}

password_of() { head -n1 "$SECURITY_DIR/$1.password"; }

# render_secure_props PORT CPORT: server.properties with the secure listeners (mode 600: it holds the
# broker's own password)
render_secure_props() {
  [[ -f "$SECURE_TEMPLATE" ]] || die "missing $SECURE_TEMPLATE"
  (
    umask 077
    sed -e "s|@PORT@|$1|g" -e "s|@CONTROLLER_PORT@|$2|g" -e "s|@LOG_DIR@|$DATA_DIR|g" \
      -e '/^listeners=/d' -e '/^advertised\.listeners=/d' -e '/^listener\.security\.protocol\.map=/d' \
      -e '/^inter\.broker\.listener\.name=/d' "$TEMPLATE"
    sed -e "s|@PORT@|$1|g" -e "s|@CONTROLLER_PORT@|$2|g" -e "s|@SECURITY_DIR@|$SECURITY_DIR|g" \
      -e "s|@ADMIN_PASSWORD@|$(password_of admin)|g" "$SECURE_TEMPLATE"
  ) >"$PROPS_FILE.tmp"
  chmod 600 "$PROPS_FILE.tmp"
}

# write_client_files PORT: client.env (RISKSTREAM_KAFKA_*, to source) and client.properties (Kafka's tools)
write_client_files() {
  local d="$SECURITY_DIR"
  (
    umask 077
    {
      echo "# riskstream against the local secure broker (scripts/kafka-local.sh start --secure): source this file."
      echo "# The password is not in here: RISKSTREAM_KAFKA_PASSWORD_FILE names the file (mode 600) holding it."
      printf 'export RISKSTREAM_KAFKA_BOOTSTRAP=%q\n' "127.0.0.1:$1"
      echo "export RISKSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
      echo "export RISKSTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
      printf 'export RISKSTREAM_KAFKA_USERNAME=%q\n' "$CLIENT_USER"
      printf 'export RISKSTREAM_KAFKA_PASSWORD_FILE=%q\n' "$d/$CLIENT_USER.password"
      printf 'export RISKSTREAM_KAFKA_SSL_CAFILE=%q\n' "$d/ca.pem"
      echo "# Mutual TLS: the broker checks a client certificate when one is presented."
      printf '# export RISKSTREAM_KAFKA_SSL_CERTFILE=%q\n' "$d/client.pem"
      printf '# export RISKSTREAM_KAFKA_SSL_KEYFILE=%q\n' "$d/client.key"
    } >"$d/client.env.tmp"
    {
      echo "# Kafka's own tools against the local secure broker (scripts/kafka-local.sh tool passes this file)."
      echo "security.protocol=SASL_SSL"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$CLIENT_USER\" password=\"$(password_of "$CLIENT_USER")\";"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$d/ca.pem"
    } >"$d/client.properties.tmp"
  )
  mv "$d/client.env.tmp" "$d/client.env"
  mv "$d/client.properties.tmp" "$d/client.properties"
}

print_client_env() {
  log "client settings for riskstream: source $SECURITY_DIR/client.env (SASL_SSL, SCRAM-SHA-512, user $CLIENT_USER)"
  echo "KAFKA_CLIENT_ENV=$SECURITY_DIR/client.env"
}

# ---------------------------------------------------------------- start
cmd_start() {
  local port="${KAFKA_PORT:-$DEFAULT_PORT}"
  while (($#)); do
    case "$1" in
      --port) [[ $# -ge 2 ]] || die "--port needs a value (a port number, or 0 for a free port)"; port="$2"; shift 2 ;;
      --port=*) port="${1#--port=}"; shift ;;
      --secure) shift ;;  # read at the top (SECURE)
      *) die "unknown start option '$1' (usage: $0 start [--port N] [--secure])" ;;
    esac
  done
  if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port > 65535 )); then die "invalid port '$port': use a number 1-65535, or 0 for a free port"; fi

  need_python
  need_java
  mkdir -p "$STATE_DIR" "$LOGS_DIR"

  # Serialise start/stop for this state dir.
  exec 9>"$STATE_DIR/.lock"
  flock 9

  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    local cur
    cur="$(configured_port)"
    [[ -n "$cur" ]] || die "broker pid $pid is running but $PROPS_FILE has no port; run '$0 stop' first"
    if [[ "$port" != 0 && "$port" != "$cur" ]]; then
      log "note: broker of $STATE_DIR already runs on port $cur (asked for $port); '$0 stop' first to change it"
    fi
    log "broker already running (pid $pid); checking it answers on 127.0.0.1:$cur"
    wait_ready "$pid" "$cur"
    if ((SECURE)); then print_client_env; fi
    print_bootstrap "$cur"
    return 0
  fi
  rm -f "$PID_FILE"
  if ((SECURE)) && [[ -f "$DATA_DIR/meta.properties" && ! -f "$SECURITY_DIR/$CLIENT_USER.password" ]]; then
    die "$DATA_DIR was formatted without SCRAM users (a plain broker's state): '$0 reset --secure' first, or set RISKSTREAM_KAFKA_HOME to another state dir"
  fi

  # ports (checked before the possibly slow fetch)
  local cport="${KAFKA_CONTROLLER_PORT:-}"
  if [[ "$port" == 0 ]]; then
    port="$(free_port)"
    [[ -n "$cport" && "$cport" != 0 ]] || cport="$(free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  else
    port_free "$port" ||
      die "port $port on 127.0.0.1 is already in use: stop whatever listens there (ss -ltnp | grep :$port), or use --port 0 / KAFKA_PORT=0 for a free port"
    if [[ -z "$cport" || "$cport" == 0 ]]; then
      if (( port < 65535 )) && port_free $((port + 1)); then cport=$((port + 1)); else cport="$(free_port)"; fi
    fi
  fi
  port_free "$cport" || die "controller port $cport is in use: unset KAFKA_CONTROLLER_PORT or pick another"

  cmd_fetch

  # server.properties (regenerated every start so ports may change; storage does not depend on them)
  [[ -f "$TEMPLATE" ]] || die "missing $TEMPLATE"
  mkdir -p "$DATA_DIR"
  if ((SECURE)); then
    mkdir -p "$SECURITY_DIR"
    chmod 700 "$SECURITY_DIR"
    make_certs
    if [[ ! -f "$DATA_DIR/meta.properties" ]]; then  # users are created at format time: new passwords
      new_password admin
      new_password "$CLIENT_USER"
    fi
    render_secure_props "$port" "$cport"
  else
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@LOG_DIR@|$DATA_DIR|g" \
      "$TEMPLATE" >"$PROPS_FILE.tmp"
  fi
  mv "$PROPS_FILE.tmp" "$PROPS_FILE"
  rm -f "$BOOTSTRAP_FILE"

  local -a jvm_opts
  # shellcheck disable=SC2206  # intentional word splitting of the heap options
  jvm_opts=($HEAP_OPTS
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$LOG4J_CONF" "-Dkafka.logs.dir=$LOGS_DIR")
  local cp="$LIBS_DIR/*"

  # format KRaft storage once
  if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
    local cid
    cid="$(python3 -c 'import base64, uuid
while True:
    c = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not c.startswith("-"):
        print(c)
        break')"
    log "formatting KRaft storage in $DATA_DIR (cluster id $cid)"
    local -a format_args=(kafka.tools.StorageTool format -t "$cid" -c "$PROPS_FILE")
    local args_file=""
    if ((SECURE)); then
      # The SCRAM users, through a java @argfile (mode 600) so the passwords are not on a command line.
      log "creating SCRAM-SHA-512 users admin (the broker's) and $CLIENT_USER (clients')"
      args_file="$SECURITY_DIR/format.args"
      (
        umask 077
        printf '"%s"\n' "${format_args[@]}" --add-scram "SCRAM-SHA-512=[name=admin,password=$(password_of admin)]" \
          --add-scram "SCRAM-SHA-512=[name=$CLIENT_USER,password=$(password_of "$CLIENT_USER")]" >"$args_file"
      )
      format_args=("@$args_file")
    fi
    if ! "$JAVA_BIN" -Xmx256m -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$cp" \
        "${format_args[@]}" >"$LOGS_DIR/format.out" 2>&1; then
      [[ -z "$args_file" ]] || rm -f "$args_file"
      cat "$LOGS_DIR/format.out" >&2
      die "formatting storage failed (output above); '$0 reset' clears $DATA_DIR"
    fi
    [[ -z "$args_file" ]] || rm -f "$args_file"
  fi

  # start in its own session so it outlives this shell / the caller's process group
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport), state $STATE_DIR, log $SERVER_LOG"
  rm -f "$PID_FILE"
  echo "===== $(date -u +%FT%TZ) start port=$port controller=$cport" >>"$SERVER_LOG"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
    "$JAVA_BIN" "${jvm_opts[@]}" -cp "$cp" kafka.Kafka "$PROPS_FILE" \
    </dev/null >>"$SERVER_LOG" 2>&1 8>&- 9>&- &
  local _
  for _ in $(seq 1 50); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] || die "could not start java (no pid written); see $SERVER_LOG"

  local t0=$SECONDS
  wait_ready "$pid" "$port"
  if ((SECURE)); then
    log "broker pid $pid answering on 127.0.0.1:$port (SASL_SSL, SCRAM-SHA-512) after $((SECONDS - t0)) s"
    write_client_files "$port"
    print_client_env
  else
    log "broker pid $pid answering on 127.0.0.1:$port after $((SECONDS - t0)) s"
  fi
  print_bootstrap "$port"
}

# ---------------------------------------------------------------- stop / status / reset
stop_broker() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "no broker running for $STATE_DIR"
    return 0
  fi
  log "stopping broker pid $pid (SIGTERM, up to ${STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_stop() {
  [[ -d "$STATE_DIR" ]] || { log "no broker running for $STATE_DIR"; return 0; }
  exec 9>"$STATE_DIR/.lock"
  flock 9
  stop_broker
}

cmd_status() {
  local pid port
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    log "not running (state $STATE_DIR)"
    return 1
  fi
  port="$(configured_port)"
  need_python
  if [[ -n "$port" ]] && probe 127.0.0.1 "$port" 3; then
    log "running: pid $pid, 127.0.0.1:$port, state $STATE_DIR"
    echo "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$port"
    return 0
  fi
  log "pid $pid is alive but not answering on 127.0.0.1:${port:-?} (starting, or stuck: see $SERVER_LOG)"
  return 1
}

cmd_reset() {
  cmd_stop
  log "deleting $DATA_DIR"
  rm -rf "$DATA_DIR" "$BOOTSTRAP_FILE"
  if [[ -d "$SECURITY_DIR" ]]; then  # its users went with the data: new ones, certificates and passwords next start
    log "deleting $SECURITY_DIR"
    rm -rf "$SECURITY_DIR" "$PROPS_FILE"  # server.properties holds the broker's own password
  fi
}

# ---------------------------------------------------------------- tool
# Main classes of Kafka 4.x's tools (what the release's bin/kafka-*.sh scripts run). All take
# --bootstrap-server; the kafka-tools artifact (pom) holds the org.apache.kafka.tools ones, kafka_2.13 kafka.admin.
# Like the release's scripts, they exit 1 after --help.
TOOL_NAMES=(topics console-consumer console-producer consumer-groups get-offsets broker-api-versions
  delete-records configs)
tool_class() {
  case "$1" in
    topics) echo org.apache.kafka.tools.TopicCommand ;;
    console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
    consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    broker-api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    delete-records) echo org.apache.kafka.tools.DeleteRecordsCommand ;;
    configs) echo kafka.admin.ConfigCommand ;;
    *) return 1 ;;
  esac
}

# The option by which each tool takes a client config file (secure mode).
tool_config_option() {
  case "$1" in
    console-consumer) echo --consumer.config ;;
    console-producer) echo --producer.config ;;
    *) echo --command-config ;;
  esac
}

cmd_tool() {
  if (($# == 0)); then
    log "usage: $0 tool NAME [ARGS...]; NAME is one of: ${TOOL_NAMES[*]} (or a fully qualified main class)"
    printf '%s\n' "${TOOL_NAMES[@]}"
    return 0
  fi
  local name="$1" class
  shift
  name="${name%.sh}"
  name="${name#kafka-}"
  if [[ "$name" == *.* ]]; then
    class="$name"                  # a main class: run as given, no bootstrap added
  else
    class="$(tool_class "$name")" ||
      die "unknown tool '$name': use one of ${TOOL_NAMES[*]}, or a fully qualified main class"
    # Point it at this state dir's broker unless told otherwise (or only asked for help).
    local arg wants_broker=1
    for arg in "$@"; do
      case "$arg" in
        --bootstrap-server | --bootstrap-server=* | --help | -h | --version) wants_broker=0 ;;
      esac
    done
    if ((wants_broker)); then
      local pid port
      pid="$(running_pid)"
      port="$(configured_port)"
      [[ -n "$pid" && -n "$port" ]] ||
        die "no local broker running for $STATE_DIR: start one ('$0 start') or pass --bootstrap-server HOST:PORT"
      set -- --bootstrap-server "127.0.0.1:$port" "$@"
      if ((SECURE)); then  # log in as the client user over TLS, like riskstream does
        [[ -f "$SECURITY_DIR/client.properties" ]] || die "no $SECURITY_DIR/client.properties: start the broker ('$0 start --secure')"
        set -- "$(tool_config_option "$name")" "$SECURITY_DIR/client.properties" "$@"
      fi
    fi
  fi
  need_java
  libs_complete || cmd_fetch
  local -a jvm_opts
  # shellcheck disable=SC2206  # intentional word splitting of the heap options
  jvm_opts=(${KAFKA_TOOL_HEAP_OPTS:--Xmx512m} -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$TOOLS_LOG4J_CONF")
  exec "$JAVA_BIN" "${jvm_opts[@]}" -cp "$LIBS_DIR/*" "$class" "$@"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  if [[ "$cmd" != start && "${1:-}" == --secure ]]; then shift; fi  # read at the top (SECURE)
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    tool) cmd_tool "$@" ;;
    -h | --help | help) usage ;;
    "") usage >&2; exit 2 ;;
    *) echo "kafka-local: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
