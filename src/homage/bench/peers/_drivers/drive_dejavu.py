# ruff: noqa: UP010, UP024, UP031
"""Run pydejavu 0.1.3 (Will Drevo's Dejavu, 2015) inside its Python 2.7 virtualenv.

Dejavu is Python 2 only and stores its fingerprints in MySQL; the runner starts a private
MariaDB server and passes its socket in the request options (``socket``, ``user``,
``database``, ``server_pid``).  Three shims make the 2015 code run against today's stack,
none of which touches the fingerprinting or the alignment:

* PyMySQL stands in for MySQLdb (MySQL-python no longer builds), taught to quote numpy
  integers as MySQLdb did;
* ``offset`` is back-quoted in Dejavu's SQL, since MariaDB >= 10.6 reserves the word;
* a stub ``pyaudio`` module, since only the unused microphone recogniser needs it.

Dejavu reports one match per query (song, offset, number of aligned hashes).  The matched
stretch is taken from the query times of the hashes that voted for that (song, offset): the
database rows are the ones Dejavu's own ``return_matches`` reads, recorded as they stream by.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import sys
import types

import numpy
import pymysql
import pymysql.converters

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common

pymysql.install_as_MySQLdb()
for _int_type in (numpy.int64, numpy.int32, numpy.uint32, numpy.uint64, numpy.intc):
    pymysql.converters.encoders[_int_type] = pymysql.converters.escape_int
    pymysql.converters.conversions[_int_type] = pymysql.converters.escape_int
_pyaudio = types.ModuleType("pyaudio")
_pyaudio.paInt16 = 8
sys.modules.setdefault("pyaudio", _pyaudio)

from dejavu import Dejavu  # noqa: E402
from dejavu import fingerprint as dj_fingerprint  # noqa: E402
from dejavu.database_sql import SQLDatabase, grouper  # noqa: E402
from dejavu.recognize import FileRecognizer  # noqa: E402

for _name, _value in list(vars(SQLDatabase).items()):
    if _name.isupper() and isinstance(_value, str) and " " in _value:
        setattr(SQLDatabase, _name, re.sub(r"(?<!`)\boffset\b(?!`)", "`offset`", _value))

HOP_SECONDS = (
    dj_fingerprint.DEFAULT_WINDOW_SIZE
    * dj_fingerprint.DEFAULT_OVERLAP_RATIO
    / float(dj_fingerprint.DEFAULT_FS)
)


def _server_cpu_seconds(pid):
    """CPU seconds used so far by the database server, which does half of Dejavu's work."""
    if not pid:
        return 0.0
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (IOError, OSError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / float(ticks)


def _recording_return_matches(db, recorded):
    """Dejavu's ``SQLDatabase.return_matches``, also noting each hit's query offset."""

    def return_matches(hashes):
        mapper = {}
        for hash_, offset in hashes:
            mapper[hash_.upper()] = offset
        values = list(mapper.keys())
        with db.cursor() as cur:
            for split_values in grouper(values, 1000):
                query = db.SELECT_MULTIPLE % ", ".join(["UNHEX(%s)"] * len(split_values))
                cur.execute(query, split_values)
                for hash_, sid, offset in cur:
                    recorded.append((sid, offset - mapper[hash_], mapper[hash_]))
                    yield (sid, offset - mapper[hash_])

    return return_matches


def main():
    request = _common.load_request()
    options = request["options"]
    references = request["references"]
    queries = request["queries"]
    server_pid = int(options.get("server_pid") or 0)
    config = {
        "database": {
            "unix_socket": options["socket"],
            "user": options.get("user", "root"),
            "db": options["database"],
        }
    }

    def cpu_now():
        return _common.cpu_seconds() + _server_cpu_seconds(server_pid)

    connection = pymysql.connect(unix_socket=options["socket"], user=options.get("user", "root"))
    try:
        connection.cursor().execute("CREATE DATABASE IF NOT EXISTS `%s`" % options["database"])
    finally:
        connection.close()

    cpu0, wall0 = cpu_now(), _common.wall_seconds()
    djv = Dejavu(config)
    for index, path in enumerate(references):
        djv.fingerprint_file(path, song_name=str(index))
    index_cpu = cpu_now() - cpu0
    index_wall = _common.wall_seconds() - wall0

    recorded = []
    djv.db.return_matches = _recording_return_matches(djv.db, recorded)
    predictions = []
    query_wall = []
    query_cpu = []
    for query in queries:
        cpu0, wall0 = cpu_now(), _common.wall_seconds()
        del recorded[:]
        match = djv.recognize(FileRecognizer, query)
        if match and match.get(Dejavu.CONFIDENCE):
            sid = match[Dejavu.SONG_ID]
            offset = match[Dejavu.OFFSET]
            times = [q for s, d, q in recorded if s == sid and d == offset]
            if times:
                q_start, q_end = min(times) * HOP_SECONDS, (max(times) + 1) * HOP_SECONDS
                count = match[Dejavu.CONFIDENCE]
                predictions.append(
                    _common.prediction(
                        query,
                        references[int(match[Dejavu.SONG_NAME])],
                        q_start,
                        q_end,
                        max(0.0, q_start + offset * HOP_SECONDS),
                        max(0.0, q_end + offset * HOP_SECONDS),
                        _common.count_score(count),
                        count,
                    )
                )
        query_cpu.append(cpu_now() - cpu0)
        query_wall.append(_common.wall_seconds() - wall0)

    _common.write_run(
        predictions, (index_cpu, index_wall, query_cpu, query_wall), 0,
        sum(_common.wav_seconds(p) for p in references),
        (
            "pydejavu 0.1.3 defaults (44.1 kHz, 4096-point FFT, 50% overlap, fan-out 15) on "
            "Python 2.7 with a private MariaDB; one match per query (Dejavu's API); the "
            "segment spans the query times of the hashes aligned at the winning offset; "
            "CPU includes the database server's"
        ),
    )

if __name__ == "__main__":
    main()
