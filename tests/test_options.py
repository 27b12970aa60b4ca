"""Option parsing (suite/config/options.py). Every parser is also fed malformed values through the real entry
points (tests/test_reliability.py) and generated text (tests/test_properties.py)."""

import pytest

from suite.config.options import parse_shard
from suite.errors import SuiteError


def test_a_shard_beyond_the_count_is_refused():
    with pytest.raises(SuiteError, match="--shard takes I/N"):
        parse_shard("4/3")
