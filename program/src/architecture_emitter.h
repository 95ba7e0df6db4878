// The build action that draws the app's architecture beside the deployment files.
// Private to snap_program.
#pragma once

#include "snap/lifecycle.h"

namespace snap::program_detail {

// Writes DIR/architecture.dot (the component graph `snapshot graph` draws) and, when
// Graphviz's `dot` is installed, DIR/architecture.svg. A missing `dot` is not an error.
BuildEmitter architecture_emitter();

}  // namespace snap::program_detail
