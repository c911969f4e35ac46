"""Builds shmstruct's C extension (everything else is declared in pyproject.toml)."""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_HOW_TO_GET_A_COMPILER = (
    "shmstruct needs a C compiler and the Python headers to build its small C extension "
    "(src/shmstruct/_native.c, its lock and atomic fields). On Debian or Ubuntu: "
    "apt-get install gcc python3-dev; on Fedora: dnf install gcc python3-devel. "
    "Then install shmstruct again. (Linux with glibc only: musl-based systems such as Alpine are not supported.)"
)


class BuildNative(build_ext):
    """build_ext that says what to install when there is no working C compiler."""

    def run(self) -> None:
        if not sys.platform.startswith("linux"):
            raise SystemExit(
                f"shmstruct runs on Linux (glibc) only, not on {sys.platform}: "
                "its lock is a robust process-shared pthread mutex"
            )
        super().run()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # distutils' CompileError / PlatformError, or no compiler at all
            raise SystemExit(f"{_HOW_TO_GET_A_COMPILER}\n(the build said: {exc})") from exc


setup(
    ext_modules=[
        Extension(
            "shmstruct._native",
            ["src/shmstruct/_native.c"],
            extra_compile_args=["-std=gnu11", "-O2"],
        )
    ],
    cmdclass={"build_ext": BuildNative},
)
