"""Builds the one compiled extension (the risk gate's decision path); everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import setup

setup(
    ext_modules=cythonize(
        ["workbench/risk/_core.pyx"],
        compiler_directives={"language_level": "3"},
    )
)
