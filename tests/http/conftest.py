"""The HTTP sink tests' fixtures. They live in http_support, where the tests also import their
helpers from: every test folder has a conftest, so ``from conftest import ...`` would find another
folder's."""

from http_support import *  # noqa: F401,F403 - pytest registers the fixtures it finds here
