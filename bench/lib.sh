# Shared by the bench scripts that start `metron serve-sim` in the background.

# Prints the URL the server logged to $1 once it is listening; exits with its stderr ($2) if it does
# not start within 10 s.
serve_sim_url() {
    local url=""
    for _ in $(seq 100); do
        url=$(grep -o 'http://[0-9.]*:[0-9]*' "$1" 2>/dev/null | head -1 || true)
        [ -n "$url" ] && { echo "$url"; return; }
        sleep 0.1
    done
    echo "serve-sim did not start" >&2
    cat "$2" >&2
    exit 1
}
