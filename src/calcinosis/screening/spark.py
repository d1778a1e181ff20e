"""The one SparkSession of this process, built on first use.

PySpark is imported inside `spark_session`, so importing calcinosis.screening works without it;
without PySpark or Java the call raises SparkUnavailableError saying what to install, instead
of a traceback from py4j.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from typing import TYPE_CHECKING

from calcinosis.errors import EngineUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
_CONFIG = {
    "spark.app.name": "calcinosis",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# PySpark logs every failed query with its Java stack trace as JSON on stderr, besides raising
# it; the exception is what callers see, so these loggers are turned down.
_QUERY_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
_lock = threading.Lock()
_session: tuple[str, SparkSession] | None = None


class SparkUnavailableError(EngineUnavailableError, RuntimeError):
    """Spark cannot run here: PySpark is not installed, or there is no Java runtime."""


def spark_session(master: str | None = None) -> SparkSession:
    """The process's SparkSession (default master `local[2]`), created on the first call.

    UI off, driver on 127.0.0.1, UTC session time zone, 4 shuffle partitions, Arrow on, logs at
    ERROR, and Python workers on this interpreter. Asking for another master while a session
    runs raises ValueError: Spark allows one context per process.
    """
    global _session
    wanted = master or DEFAULT_MASTER
    with _lock:
        if _session is not None and _alive(_session[1]):
            if _session[0] != wanted:
                raise ValueError(f"a Spark session on {_session[0]} already runs in this process")
            return _session[1]
        _session = (wanted, _build(wanted))
        return _session[1]


def _alive(session: SparkSession) -> bool:
    return getattr(session.sparkContext, "_jsc", None) is not None


def _build(master: str) -> SparkSession:
    try:
        from pyspark.logger import PySparkLogger
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(
            "PySpark is not installed: install the spark extra (pip install 'calcinosis[spark]')"
        ) from exc
    if not _java_found():
        raise SparkUnavailableError(
            "Spark needs a Java 17 runtime: install one (e.g. apt-get install openjdk-17-jre) "
            "or set JAVA_HOME"
        )
    # executors and the driver run Python code of this package: the same interpreter for both
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = SparkSession.builder.master(master)
    for key, value in _CONFIG.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: py4j and pyspark raise assorted errors
        raise SparkUnavailableError(f"Spark could not start: {exc}") from exc
    session.sparkContext.setLogLevel("ERROR")
    for name in _QUERY_LOGGERS:
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    return session


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None
