#include "snap/cli_command.h"

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
  for (const Arg& a : args_) line += a.default_value ? " [" + upper(a.name) + "]" : " " + upper(a.name);
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
    args.push_back(std::move(o));
  }
  return {{"summary", summary_}, {"args", std::move(args)}};
}

CommandArgs CliCommand::parse(const std::vector<std::string>& words) const {
  std::size_t required = 0;
  for (const Arg& a : args_) required += a.default_value ? 0 : 1;
  if (words.size() < required || words.size() > args_.size()) {
    throw UsageError(id().name() + ": expected " +
                     (required == args_.size() ? std::to_string(required)
                                               : std::to_string(required) + " to " + std::to_string(args_.size())) +
                     " argument" + (args_.size() == 1 ? "" : "s") + ", got " + std::to_string(words.size()) +
                     "\nusage: " + help());
  }
  CommandArgs out;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const Arg& a = args_[i];
    const std::string& word = i < words.size() ? words[i] : *a.default_value;
    auto bad = [&]() -> UsageError {
      return UsageError(id().name() + ": argument " + upper(a.name) + " must be " +
                        (a.type == Arg::Type::kInteger ? "an integer" : "a " + std::string(type_name(a.type))) +
                        ", got \"" + word + "\"\nusage: " + help());
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

}  // namespace snap
