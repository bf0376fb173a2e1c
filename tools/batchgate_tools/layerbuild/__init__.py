"""Build the Lambda layers for python3.12 / x86_64 without Docker, strip them, check their size.

    python -m batchgate_tools.layerbuild --out build/layers [--report] [--json PATH]
    python -m batchgate_tools.layerbuild --layer dependencies|common --into DIR
    python -m batchgate_tools.layerbuild --function SRC --into DIR

(``cli``: the options.) The install and strip rules live here only, so `sam build`, `make layers`
and the deploy tests produce the same bytes.

The dependency layer is installed by pip from manylinux wheels for CPython 3.12 (never from the
build machine's own Python), then stripped of what the Lambda runtime never loads. Every strip
rule carries its reason; where the reason could stop being true, a guard fails the build (a kept
module importing what was removed, a shared library whose ``DT_NEEDED`` is gone, ...), and the
package's own imports are checked against the stripped layer (``check_imports``).

    files      the repository root, BuildError, file sizes and tree walking
    elf        DT_NEEDED of shared objects; every needed library is in the layer or the system
    strip      the strip rules, their reasons and guards; the runtime's SDK
    build      pip install of the dependency layer; copies of the common package and function code
    imports    the import check of the package and the handlers against what is deployed
    template   the functions of template.yaml and their layers
    report     the size report, as a dict and as text
    cli        the command line (``__main__`` runs it)

This package runs on the build machine only; it is not in any layer.
"""

from batchgate_tools.layerbuild.build import (
    FUNCTION_EXCLUDE,
    PACKAGE_SRC,
    PIP_TARGET_ARGS,
    REQUIREMENTS,
    LayerBuild,
    build_common,
    build_dependencies,
    build_function,
    function_bytes,
    installed_distributions,
    pip_cache_dir,
)
from batchgate_tools.layerbuild.cli import DEFAULT_JSON, build_all, main
from batchgate_tools.layerbuild.elf import SYSTEM_LIBS, check_needed_closure, elf_needed, shared_objects
from batchgate_tools.layerbuild.files import (
    JUNK_DIRS,
    ROOT,
    BuildError,
    count_files,
    python_sources,
    sources_matching,
    tree_bytes,
)
from batchgate_tools.layerbuild.imports import ImportReport, ImportUse, check_imports
from batchgate_tools.layerbuild.report import LAMBDA_UNZIPPED_LIMIT, format_report, size_report
from batchgate_tools.layerbuild.strip import (
    RUNTIME_SDK,
    RUNTIME_SDK_FLOOR,
    STRIPPED_MODULES,
    StripResult,
    StripRule,
    strip_layer,
    strip_rules,
)
from batchgate_tools.layerbuild.template import TEMPLATE, FunctionSpec, template_functions

__all__ = [
    "DEFAULT_JSON",
    "FUNCTION_EXCLUDE",
    "JUNK_DIRS",
    "LAMBDA_UNZIPPED_LIMIT",
    "PACKAGE_SRC",
    "PIP_TARGET_ARGS",
    "REQUIREMENTS",
    "ROOT",
    "RUNTIME_SDK",
    "RUNTIME_SDK_FLOOR",
    "STRIPPED_MODULES",
    "SYSTEM_LIBS",
    "TEMPLATE",
    "BuildError",
    "FunctionSpec",
    "ImportReport",
    "ImportUse",
    "LayerBuild",
    "StripResult",
    "StripRule",
    "build_all",
    "build_common",
    "build_dependencies",
    "build_function",
    "check_imports",
    "check_needed_closure",
    "count_files",
    "elf_needed",
    "format_report",
    "function_bytes",
    "installed_distributions",
    "main",
    "pip_cache_dir",
    "python_sources",
    "shared_objects",
    "size_report",
    "sources_matching",
    "strip_layer",
    "strip_rules",
    "template_functions",
    "tree_bytes",
]
