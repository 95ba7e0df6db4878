#include "snap/cli_command.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "snap/lifecycle.h"

namespace snap {

namespace {

std::string_view type_name(Arg::Type type) {
  switch (type) {
    case Arg::Type::kText: return "text";
    case Arg::Type::kInteger: return "integer";
    case Arg::Type::kNumber: return "number";
    case Arg::Type::kBoolean: return "boolean";
  }
  return "?";
}

template <typename Map>
const auto& lookup(const Map& map, std::string_view name, std::string_view type) {
  auto it = map.find(name);
  if (it == map.end()) {
    throw std::invalid_argument("command argument \"" + std::string(name) + "\" is not a declared " +
                                std::string(type) + " argument");
  }
  return it->second;
}

std::string upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == '-') c = '_';
  }
  return s;
}

}  // namespace

const std::string& CommandArgs::text(std::string_view name) const { return lookup(texts_, name, "text"); }
std::int64_t CommandArgs::integer(std::string_view name) const { return lookup(integers_, name, "integer"); }
double CommandArgs::number(std::string_view name) const { return lookup(numbers_, name, "number"); }
bool CommandArgs::boolean(std::string_view name) const { return lookup(booleans_, name, "boolean"); }

CliCommand::CliCommand(const Init& init, std::string summary, std::vector<Arg> args, CommandBody body)
    : Persona(
          init, PersonaKind::kCommand,
          [this, body = std::move(body)](PersonaContext& ctx) { return body(ctx, parse(ctx.args())); }, "CliCommand"),
      summary_(std::move(summary)),
      args_(std::move(args)) {
  bool optional_seen = false;
  for (const Arg& a : args_) {
    if (a.name.empty()) throw std::invalid_argument("command " + id().name() + ": an argument has no name");
    if (optional_seen && !a.default_value) {
      throw std::invalid_argument("command " + id().name() + ": argument " + a.name +
                                  " is required but follows an optional one");
    }
    optional_seen = optional_seen || a.default_value.has_value();
  }
}

std::string CliCommand::help() const {
  std::string line = id().name();
  for (const Arg& a : args_) line += a.default_value || a.optional ? " [" + upper(a.name) + "]" : " " + upper(a.name);
  std::string out = line + "  " + summary_;
  for (const Arg& a : args_) {
    out += "\n    " + upper(a.name) + " (" + std::string(type_name(a.type)) + ")  " + a.help;
    if (a.default_value) out += " (default: " + *a.default_value + ")";
  }
  return out;
}

boost::json::object CliCommand::config() const {
  boost::json::array args;
  for (const Arg& a : args_) {
    boost::json::object o{{"name", a.name}, {"type", type_name(a.type)}};
    if (a.default_value) o["default"] = *a.default_value;
    if (a.optional) o["optional"] = true;
    args.push_back(std::move(o));
  }
  return {{"summary", summary_}, {"args", std::move(args)}};
}

CommandArgs CliCommand::parse(const std::vector<std::string>& words) const {
  const auto usage = [&](const std::string& problem) {
    return UsageError(id().name() + ": " + problem + "\nusage: " + help());
  };
  // Named ones first (--name VALUE or --name=VALUE), then the positional words fill the
  // arguments not named, in order.
  std::vector<std::optional<std::string>> given(args_.size());
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w.size() < 3 || w.rfind("--", 0) != 0) {
      positional.push_back(w);
      continue;
    }
    const std::size_t eq = w.find('=');
    const std::string name = w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const auto it = std::find_if(args_.begin(), args_.end(), [&](const Arg& a) { return a.name == name; });
    if (it == args_.end()) throw usage("unknown option --" + name);
    std::optional<std::string>& slot = given[static_cast<std::size_t>(it - args_.begin())];
    if (slot) throw usage("--" + name + " given twice");
    if (eq != std::string::npos) {
      slot = w.substr(eq + 1);
    } else if (i + 1 < words.size()) {
      slot = words[++i];
    } else {
      throw usage("--" + name + " needs a value");
    }
  }
  std::size_t next = 0;
  for (std::size_t i = 0; i < args_.size() && next < positional.size(); ++i) {
    if (!given[i]) given[i] = positional[next++];
  }
  std::size_t required = 0;
  for (const Arg& a : args_) required += a.default_value || a.optional ? 0 : 1;
  bool missing = false;
  for (std::size_t i = 0; i < args_.size(); ++i) missing |= !given[i] && !args_[i].default_value && !args_[i].optional;
  if (next < positional.size() || missing) {
    throw usage("expected " +
                (required == args_.size() ? std::to_string(required)
                                          : std::to_string(required) + " to " + std::to_string(args_.size())) +
                " argument" + (args_.size() == 1 ? "" : "s") + ", got " + std::to_string(words.size()));
  }
  CommandArgs out;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const Arg& a = args_[i];
    if (!given[i] && !a.default_value) continue;  // optional, left out: absent
    const std::string& word = given[i] ? *given[i] : *a.default_value;
    auto bad = [&]() -> UsageError {
      return usage("argument " + upper(a.name) + " must be " +
                   (a.type == Arg::Type::kInteger ? "an integer" : "a " + std::string(type_name(a.type))) + ", got \"" +
                   word + "\"");
    };
    switch (a.type) {
      case Arg::Type::kText: out.texts_[a.name] = word; break;
      case Arg::Type::kInteger: {
        std::int64_t v = 0;
        auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
        if (ec != std::errc() || end != word.data() + word.size()) throw bad();
        out.integers_[a.name] = v;
        break;
      }
      case Arg::Type::kNumber: {
        double v = 0;
        auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
        if (ec != std::errc() || end != word.data() + word.size() || !std::isfinite(v)) throw bad();
        out.numbers_[a.name] = v;
        break;
      }
      case Arg::Type::kBoolean: {
        if (word == "true" || word == "yes" || word == "1") {
          out.booleans_[a.name] = true;
        } else if (word == "false" || word == "no" || word == "0") {
          out.booleans_[a.name] = false;
        } else {
          throw bad();
        }
        break;
      }
    }
  }
  return out;
}

bool CommandArgs::has(std::string_view name) const {
  return texts_.count(name) > 0 || integers_.count(name) > 0 || numbers_.count(name) > 0 || booleans_.count(name) > 0;
}

namespace cli_detail {
void integer_out_of_range(std::string_view name, std::int64_t value) {
  throw UsageError("argument " + upper(std::string(name)) + " is out of range: " + std::to_string(value));
}
void check_help_names(const std::vector<Arg>& args, const std::map<std::string, std::string>& help) {
  for (const auto& [name, text] : help) {
    const bool known = std::any_of(args.begin(), args.end(), [&](const Arg& a) { return a.name == name; });
    if (!known) throw std::invalid_argument("snap::args_of: help for \"" + name + "\", which is no field");
  }
}
}  // namespace cli_detail

}  // namespace snap
