"""`bench.worker_profile`: Cython's C names read back as Python's, and samples charged where they ran."""

from __future__ import annotations

import doctest

import pytest

from bench import worker_profile
from bench.instructions import STAGES
from bench.worker_profile import INTERPRETER, PARTS, Profile, owner, part, python_name

PY = "/usr/bin/python3.11"
ENGINES = "/build/lib/streams/engines.cpython-311-x86_64-linux-gnu.so"
ROUTING = "/build/lib/streams/routing.cpython-311-x86_64-linux-gnu.so"
JUDGE = "/build/lib/detectors/judge.cpython-311-x86_64-linux-gnu.so"
PYDANTIC = "/venv/lib/python3.11/site-packages/pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so"
RDKAFKA = "/venv/lib/python3.11/site-packages/confluent_kafka.libs/librdkafka-0cb94173.so.1"

#: Four samples as `perf script -F comm,ip,sym,dso` prints them: pydantic-core under the engines' decode,
#: the judge's own code (an attribute look-up in the interpreter, charged to the judge), Faust's Python code,
#: and one of librdkafka's threads.
SCRIPT = f"""\
opswarden
\t          1087e0 [unknown] ({PYDANTIC})
\t           17a2e __pyx_pw_7streams_7routing_13decode ({ROUTING})
\t           14baf __pyx_pf_7streams_7engines_18PartitionedEngines_18_process (inlined)
\t           1c690 __pyx_pw_7streams_7engines_18PartitionedEngines_9handle ({ENGINES})
\t          12b9df _PyEval_EvalFrameDefault ({PY})

opswarden
\t          1e0802 _PyObject_GenericGetAttrWithDict ({PY})
\t           2fe2e __pyx_pw_9detectors_5judge_18AuthorizationJudge_31judge ({JUDGE})
\t          122635 PyObject_VectorcallMethod ({PY})
\t           1c690 __pyx_pw_7streams_7engines_18PartitionedEngines_9handle ({ENGINES})
\t          12b9df _PyEval_EvalFrameDefault ({PY})

opswarden
\t          12b9df _PyEval_EvalFrameDefault ({PY})
\t            7e21 [unknown] (/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so)

rdk:broker1
\t           2cd10 rd_kafka_msgset_create_ProduceRequest ({RDKAFKA})
"""


def test_the_module_docstrings_examples_hold() -> None:
    assert doctest.testmod(worker_profile).failed == 0


@pytest.mark.parametrize(
    ("symbol", "name"),
    [
        ("__pyx_pw_7streams_7engines_18PartitionedEngines_9handle", "streams.engines.PartitionedEngines.handle"),
        ("__pyx_pf_7streams_7engines_18PartitionedEngines_8handle", "streams.engines.PartitionedEngines.handle"),
        ("__pyx_pw_9detectors_7episode_1epoch", "detectors.episode.epoch"),
        ("__pyx_pf_7streams_7routing_6encode_item", "streams.routing.encode_item"),
        ("__pyx_pw_6models_7parsers_10cloudtrail_33_derived", "models.parsers.cloudtrail._derived"),
        ("__pyx_pw_6models_7parsers_4base_11require_str", "models.parsers.base.require_str"),
        (
            "__pyx_gb_9detectors_5judge_18AuthorizationJudge_8deadline_2generator1",
            "detectors.judge.AuthorizationJudge.deadline.generator1",
        ),
        ("__pyx_pw_7streams_6tables_10TableStore_7__setitem__", "streams.tables.TableStore.__setitem__"),
        ("__Pyx_PyObject_GetAttrStr", None),
        ("PyObject_Vectorcall", None),
    ],
)
def test_cython_names_read_back_as_the_python_functions(symbol: str, name: str | None) -> None:
    assert python_name(symbol) == name


def test_every_stage_entry_point_that_instructions_counts_is_a_part_here() -> None:
    """The two benchmarks split a worker alike: a renamed entry point must be renamed in both."""
    entry_points = {f"{module}.{name}" for stage in STAGES.values() for module, name in stage}
    assert entry_points <= set(PARTS)


def test_samples_are_charged_to_the_innermost_of_ours_or_the_library_it_called() -> None:
    profile = Profile.of(SCRIPT)
    assert profile.samples == 4
    assert profile.by_owner == {
        "pydantic-core": 1,
        "detectors.judge.AuthorizationJudge.judge": 1,
        INTERPRETER: 1,
        "librdkafka": 1,
    }


def test_samples_are_charged_to_the_outermost_part_of_the_worker_they_ran_under() -> None:
    profile = Profile.of(SCRIPT)
    assert profile.by_part == {
        PARTS["streams.engines.PartitionedEngines.handle"]: 2,
        "the rest: Faust, aiokafka, the event loop": 1,
        "librdkafka's threads": 1,
    }
    report = profile.report(top=2)
    assert "  50.0%  " + PARTS["streams.engines.PartitionedEngines.handle"] in report
    assert len([line for line in report.splitlines() if line.startswith("  ")]) == 3 + 2


def test_a_stack_of_only_the_interpreter_is_charged_to_it() -> None:
    stack = [("_PyEval_EvalFrameDefault", PY), ("[unknown]", PY)]
    assert owner(stack) == INTERPRETER
    assert part("opswarden", stack) == "the rest: Faust, aiokafka, the event loop"
