// The build check snap::run installs: the new build's API servers against the previous
// build's, before the new build replaces it. Private to snap_program.
#pragma once

#include "snap/lifecycle.h"

namespace snap::program_detail {

// Prints snap/api_compat.h's report on stderr when the previous build in OUT has a
// readable log and either build has an API server (one line saying why nothing was
// compared when that log cannot be read); with --fail-on-breaking, a breaking change
// keeps the previous build.
BuildCheck api_build_check();

}  // namespace snap::program_detail
