#include "snap/reach.h"

#include <deque>
#include <set>
#include <string_view>

namespace snap {

namespace {

// "none" is how some logs spell a passive component; the lifecycle writes "".
bool is_persona(const ComponentEntry& c) { return !c.persona.empty() && c.persona != "none"; }

}  // namespace

std::vector<PersonaReach> persona_reach(const Manifest& manifest) {
  const auto& components = manifest.components;
  std::map<std::string_view, const ComponentEntry*> by_id;
  for (const ComponentEntry& c : components) by_id.emplace(c.id, &c);
  std::map<std::string_view, std::vector<const ComponentEntry*>> children;
  for (const ComponentEntry& c : components) {
    const std::string_view id = c.id;
    for (std::size_t dot = id.rfind('.'); dot != std::string_view::npos && dot > 0; dot = id.rfind('.', dot - 1)) {
      if (by_id.count(id.substr(0, dot))) {
        children[id.substr(0, dot)].push_back(&c);
        break;
      }
    }
  }

  std::vector<PersonaReach> out;
  for (const ComponentEntry& persona : components) {
    if (!is_persona(persona)) continue;
    std::set<std::string> reached, personas, names;
    std::set<const ComponentEntry*> seen;
    std::deque<const ComponentEntry*> todo{&persona};
    while (!todo.empty()) {
      const ComponentEntry* c = todo.front();
      todo.pop_front();
      if (!seen.insert(c).second) continue;
      if (c != &persona) reached.insert(c->id);
      if (c != &persona && is_persona(*c)) {
        personas.insert(c->id);
        continue;
      }
      names.insert(c->secrets.begin(), c->secrets.end());
      if (auto it = children.find(c->id); it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
      for (const std::string& used : c->uses) {
        if (auto it = by_id.find(used); it != by_id.end()) todo.push_back(it->second);
      }
    }
    out.push_back({persona.id, std::vector<std::string>(reached.begin(), reached.end()),
                   std::vector<std::string>(personas.begin(), personas.end()),
                   std::vector<std::string>(names.begin(), names.end())});
  }
  return out;
}

}  // namespace snap
