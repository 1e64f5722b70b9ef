#!/usr/bin/python3
# fire drill fence probe of one database member (run as postgres): every INTERVAL seconds a new session over the
# local socket inserts a row into TABLE and commits, as an application would; one line per attempt, written when
# the attempt ends (an answer that comes late is still seen, with its time):
#   START END STATUS DETAIL     (epoch seconds)
# STATUS: ok (committed and acknowledged), unconfirmed (committed here only: the wait for the synchronous standby
# was cancelled: NOT an acknowledgement), ro (a replica refuses writes), err, busy (too many attempts still waiting:
# this one was not made). Bounded in time; stops when /run/firedrill/stop-fence exists.
import os
import sys
import threading
import time

import psycopg2

INTERVAL, SECONDS, TABLE = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
MAX_WAITING = 20  # sessions left waiting (a member cut off, frozen...): never more than this many
STOP = "/run/firedrill/stop-fence"
ME = os.uname().nodename.split(".")[0]
lock = threading.Lock()
waiting = threading.BoundedSemaphore(MAX_WAITING)


def say(start, status, detail="-"):
    with lock:
        print(f"{start:.3f} {time.time():.3f} {status} {detail}", flush=True)


def attempt(start):
    try:
        conn = psycopg2.connect(
            host="/var/run/postgresql", dbname="postgres", connect_timeout=2, application_name="firedrill-fence"
        )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {TABLE} (member, at) VALUES (%s, clock_timestamp())", (ME,))
        cancelled = any("canceling wait for synchronous replication" in n for n in conn.notices)
        say(start, "unconfirmed" if cancelled else "ok")
        conn.close()
    except psycopg2.errors.ReadOnlySqlTransaction:
        say(start, "ro")
    except Exception as exc:  # noqa: BLE001 - any failure is "not acknowledged"
        say(start, "err", " ".join(str(exc).split())[:120] or type(exc).__name__)
    finally:
        waiting.release()


deadline = time.time() + SECONDS
tick = time.time()
while time.time() < deadline and not os.path.exists(STOP):
    start = time.time()
    if waiting.acquire(blocking=False):
        threading.Thread(target=attempt, args=(start,), daemon=True).start()
    else:
        say(start, "busy")
    tick += INTERVAL
    time.sleep(max(0.0, tick - time.time()))
time.sleep(2)  # the last attempts' answers
with lock:
    print("end", flush=True)
    sys.stdout.flush()
    os._exit(0)  # sessions still waiting are not waited for
