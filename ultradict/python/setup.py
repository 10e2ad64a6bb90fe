"""Builds the UltraDict module: the C core (_ultradict) compiled together with libultradict's
sources, so the installed module needs nothing else at run time.

Install offline into a venv of the system Python:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install --no-index --no-build-isolation \\
        ultradict/python
"""
import glob
import os
import platform

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
lib = os.path.normpath(os.path.join(here, "..", "src"))
include = os.path.normpath(os.path.join(here, "..", "include"))

# setuptools wants sources relative to this folder.
# The module's own files (src/, listed in src/py_ultradict.h), then libultradict's.
sources = sorted(
    os.path.relpath(p, here) for p in glob.glob(os.path.join(here, "src", "*.c"))
) + sorted(os.path.relpath(p, here) for p in glob.glob(os.path.join(lib, "*.c")))

# libultradict keeps each thread's held locks in thread-local variables, read several times
# per write. In a module loaded by dlopen(), the default TLS model reaches them through
# __tls_get_addr (about 10 instructions a look, ~170 a write); TLS descriptors (gnu2) let the
# loader resolve them to a plain offset while its static TLS reserve has room, and fall back
# to the dynamic path on their own when it has not.
tls = ["-mtls-dialect=gnu2"] if platform.machine() in ("x86_64", "AMD64") else []

setup(
    name="UltraDict",
    version="1.0.0",
    description="A dict shared between processes through shared memory, on libultradict",
    packages=["UltraDict"],
    ext_modules=[
        Extension(
            "UltraDict._ultradict",
            sources=sources,
            include_dirs=[include, lib, os.path.join(here, "src")],
            define_macros=[("_GNU_SOURCE", None), ("UD_BUILDING_LIBRARY", None)],
            extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type",
                                "-fvisibility=hidden"] + tls,
            extra_link_args=["-pthread"],
        )
    ],
    python_requires=">=3.9",
)
