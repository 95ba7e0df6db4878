// What `snapshot graph LOG` draws: the app's component graph as Graphviz DOT, from the
// log's manifest alone. One node per component (the app itself is the graph): personas as
// boxes (daemons bold, jobs and commands dashed), stores and databases as cylinders,
// secrets as notes, ports as plain text; an ApiServer's label lists its port and
// endpoints from its config. A component with children is a cluster holding its subtree,
// so the picture groups as the Id tree does. Edges are `uses`. Personas' labels name the
// secrets they receive. The same manifest always gives the same bytes (golden-tested).
//
// Thread safety: a pure function.
#pragma once

#include <string>

#include "snap/log.h"

namespace snap {

std::string graph_dot(const Manifest& manifest);

}  // namespace snap
