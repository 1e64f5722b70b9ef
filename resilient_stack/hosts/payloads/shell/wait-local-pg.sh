wait_local_pg() {
    for _ in $(seq 1 60); do
        pg_isready -q -h {{socket_dir}} -p {{port}} && return 0
        sleep 1
    done
    echo "local PostgreSQL did not become ready" >&2
    return 1
}
