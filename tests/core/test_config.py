import flax.nnx as nnx
import pytest

from datarax.core.config import OperatorConfig, StructuralConfig
from datarax.core.operator import OperatorModule


def test_stochastic_config_without_stream_name_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"stochastic=True\) needs a stream_name.*stream_name='augment'"):
        OperatorConfig(stochastic=True)
    with pytest.raises(ValueError, match="StructuralConfig"):
        StructuralConfig(stochastic=True)


def test_configs_are_frozen():
    config = OperatorConfig()
    with pytest.raises(Exception):
        config.stochastic = True  # type: ignore[misc]


def test_stochastic_module_without_rngs_names_the_stream():
    config = OperatorConfig(stochastic=True, stream_name="augment")
    with pytest.raises(ValueError, match=r"built without rngs.*nnx.Rngs\(augment=seed\)"):
        OperatorModule(config)
    with pytest.raises(ValueError, match=r"rngs has no stream 'augment'"):
        OperatorModule(config, rngs=nnx.Rngs(other=0))


def test_bad_statistics_and_cache_settings_are_refused():
    with pytest.raises(ValueError, match="stats_max_batches"):
        OperatorConfig(stats_fields=("x",), stats_max_batches=0)
    with pytest.raises(ValueError, match="cache_size"):
        OperatorConfig(cache_size=-1)
    assert OperatorConfig(stats_fields="x").stats_fields == ("x",)
