// Failure message normalization and hashing (see signature.h for the rules).
#include "flakelab/results/signature.h"

#include <fmt/format.h>

#include <toml++/toml.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <regex>
#include <utility>

namespace flakelab::results {

uint64_t fnv1a64(std::string_view bytes) noexcept {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string hash_hex(uint64_t hash) { return fmt::format("{:016x}", hash); }

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Bytes >= 0x80 (UTF-8) count as word characters so that a number glued to a non-ASCII
// letter stays part of its word.
bool is_word(char c) {
  return is_alpha(c) || is_digit(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

class Scanner {
 public:
  explicit Scanner(std::string_view in) : in_(in) {}

  char at(std::size_t i) const { return i < in_.size() ? in_[i] : '\0'; }

  // Number of characters from i matching `count` digits exactly.
  bool digits(std::size_t i, std::size_t count) const {
    for (std::size_t k = 0; k < count; ++k) {
      if (!is_digit(at(i + k))) return false;
    }
    return true;
  }
  std::size_t digit_run(std::size_t i) const {
    std::size_t k = i;
    while (k < in_.size() && is_digit(in_[k])) ++k;
    return k - i;
  }
  std::size_t hex_run(std::size_t i) const {
    std::size_t k = i;
    while (k < in_.size() && is_hex(in_[k])) ++k;
    return k - i;
  }
  bool word_ends(std::size_t i) const { return i >= in_.size() || !is_word(in_[i]); }

  // 8-4-4-4-12
  std::size_t uuid(std::size_t i) const {
    static constexpr std::array<std::size_t, 5> kGroups = {8, 4, 4, 4, 12};
    std::size_t k = i;
    for (std::size_t g = 0; g < kGroups.size(); ++g) {
      if (hex_run(k) != kGroups[g]) return 0;
      k += kGroups[g];
      if (g + 1 < kGroups.size()) {
        if (at(k) != '-') return 0;
        ++k;
      }
    }
    return word_ends(k) ? k - i : 0;
  }

  // HH:MM:SS(.frac)?
  std::size_t time(std::size_t i) const {
    if (!digits(i, 2) || at(i + 2) != ':' || !digits(i + 3, 2) || at(i + 5) != ':' || !digits(i + 6, 2)) {
      return 0;
    }
    std::size_t k = i + 8;
    if ((at(k) == '.' || at(k) == ',') && is_digit(at(k + 1))) k += 1 + digit_run(k + 1);
    return k - i;
  }

  // YYYY-MM-DD, optionally followed by [T ]time and a zone. Returns length; *with_time says
  // whether a time was part of it.
  std::size_t date(std::size_t i, bool* with_time) const {
    *with_time = false;
    if (!digits(i, 4) || at(i + 4) != '-' || !digits(i + 5, 2) || at(i + 7) != '-' || !digits(i + 8, 2)) {
      return 0;
    }
    std::size_t k = i + 10;
    if (at(k) == 'T' || at(k) == ' ') {
      if (const std::size_t t = time(k + 1)) {
        *with_time = true;
        k += 1 + t;
        if (at(k) == 'Z') {
          ++k;
        } else if ((at(k) == '+' || at(k) == '-') && digits(k + 1, 2)) {
          k += 3;
          if (at(k) == ':' && digits(k + 1, 2)) {
            k += 3;
          } else if (digits(k, 2)) {
            k += 2;
          }
        }
      }
    }
    return word_ends(k) ? k - i : 0;
  }

  // a.b.c.d
  std::size_t ipv4(std::size_t i) const {
    std::size_t k = i;
    for (int part = 0; part < 4; ++part) {
      const std::size_t d = digit_run(k);
      if (d == 0 || d > 3) return 0;
      k += d;
      if (part < 3) {
        if (at(k) != '.') return 0;
        ++k;
      }
    }
    return word_ends(k) ? k - i : 0;
  }

 private:
  std::string_view in_;
};

bool starts_with_at(std::string_view in, std::size_t i, std::string_view prefix) {
  return in.substr(i, prefix.size()) == prefix;
}

// The placeholder for a decimal number, chosen by the word right before it in `out`.
const char* number_placeholder(const std::string& out) {
  std::size_t end = out.size();
  // Skip separators between the keyword and the number: "pid 12", "pid=12", "ino: 5", "fd #3".
  std::size_t skipped = 0;
  while (end > 0 && skipped < 3 && (out[end - 1] == ' ' || out[end - 1] == '=' || out[end - 1] == ':' ||
                                    out[end - 1] == '#')) {
    --end;
    ++skipped;
  }
  std::size_t begin = end;
  while (begin > 0 && is_alpha(out[begin - 1]) && end - begin < 8) --begin;
  if (begin > 0 && is_word(out[begin - 1])) return "<n>";
  char word[9] = {};
  const std::size_t len = end - begin;
  if (len == 0 || len > 8) return "<n>";
  for (std::size_t k = 0; k < len; ++k) {
    const char c = out[begin + k];
    word[k] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  struct Kind {
    const char* word;
    const char* placeholder;
  };
  static constexpr Kind kKinds[] = {
      {"pid", "<pid>"}, {"ppid", "<pid>"}, {"pgid", "<pid>"}, {"tid", "<tid>"},   {"ino", "<ino>"},
      {"inode", "<ino>"}, {"port", "<port>"}, {"fd", "<fd>"}, {"uid", "<uid>"}, {"gid", "<gid>"},
  };
  for (const Kind& kind : kKinds) {
    if (std::strcmp(word, kind.word) == 0) return kind.placeholder;
  }
  return "<n>";
}

// Characters that end a temp path.
bool ends_path(char c) {
  return c == '\0' || is_space(c) || c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' ||
         c == ',' || c == ';' || c == '>' || c == '`';
}

}  // namespace

std::string normalize_builtin(std::string_view message) {
  if (message.size() > Normalizer::kMaxMessageBytes) message = message.substr(0, Normalizer::kMaxMessageBytes);
  const Scanner s(message);
  std::string out;
  out.reserve(message.size());
  const std::size_t n = message.size();
  std::size_t i = 0;
  bool pending_space = false;
  while (i < n) {
    const char c = message[i];
    if (is_space(c)) {
      pending_space = true;
      ++i;
      continue;
    }
    if (pending_space) {
      if (!out.empty()) out.push_back(' ');
      pending_space = false;
    }
    const bool boundary = i == 0 || !is_word(message[i - 1]);
    if (boundary && is_hex(c)) {
      if (const std::size_t len = s.uuid(i)) {
        out += "<uuid>";
        i += len;
        continue;
      }
      if (is_digit(c)) {
        bool with_time = false;
        if (const std::size_t len = s.date(i, &with_time)) {
          out += with_time ? "<ts>" : "<date>";
          i += len;
          continue;
        }
        if (const std::size_t len = s.time(i); len && s.word_ends(i + len)) {
          out += "<time>";
          i += len;
          continue;
        }
        if (c == '0' && (s.at(i + 1) == 'x' || s.at(i + 1) == 'X') && is_hex(s.at(i + 2))) {
          i += 2 + s.hex_run(i + 2);
          out += "<hex>";
          continue;
        }
        if (const std::size_t len = s.ipv4(i)) {
          out += "<ip>";
          i += len;
          if (s.at(i) == ':' && s.digit_run(i + 1) > 0 && s.word_ends(i + 1 + s.digit_run(i + 1))) {
            i += 1 + s.digit_run(i + 1);
            out += ":<port>";
          }
          continue;
        }
      }
      // Long hex strings (hashes, addresses without 0x): at least 8 digits and a letter.
      const std::size_t hex = s.hex_run(i);
      if (hex >= 8 && s.word_ends(i + hex)) {
        bool letter = false;
        for (std::size_t k = i; k < i + hex && !letter; ++k) letter = !is_digit(message[k]);
        if (letter) {
          out += "<hex>";
          i += hex;
          continue;
        }
      }
      if (is_digit(c)) {
        std::size_t k = i + s.digit_run(i);
        if (s.at(k) == '.' && is_digit(s.at(k + 1))) k += 1 + s.digit_run(k + 1);
        out += number_placeholder(out);
        i = k;
        continue;
      }
    }
    if (c == '/' && (i == 0 || (!is_word(message[i - 1]) && message[i - 1] != '/' && message[i - 1] != '.'))) {
      if (starts_with_at(message, i, "/tmp/") || starts_with_at(message, i, "/var/tmp/") ||
          starts_with_at(message, i, "/dev/shm/")) {
        std::size_t k = i;
        // A ':' followed by a space or the end closes the path ("open /tmp/x: ENOENT").
        while (!ends_path(s.at(k)) && !(s.at(k) == ':' && (is_space(s.at(k + 1)) || k + 1 >= n))) ++k;
        out += "<tmp>";
        i = k;
        continue;
      }
      if (starts_with_at(message, i, "/proc/") && s.digit_run(i + 6) > 0 &&
          s.word_ends(i + 6 + s.digit_run(i + 6))) {
        out += "/proc/<pid>";
        i += 6 + s.digit_run(i + 6);
        continue;
      }
    }
    if (c == '"' || c == '\'') {
      const bool abstract = s.at(i + 1) == '@' || (s.at(i + 1) == '\\' && s.at(i + 2) == '0');
      if (abstract) {
        std::size_t k = i + 1;
        bool digit = false;
        while (k < n && k - i < 256 && message[k] != c && message[k] != '\n') digit |= is_digit(message[k++]);
        if (k < n && message[k] == c && digit) {
          out.push_back(c);
          out += "@<sock>";
          out.push_back(c);
          i = k + 1;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

struct Normalizer::Compiled {
  std::vector<MaskRule> rules;
  std::vector<std::regex> regexes;
};

Normalizer::Normalizer() : compiled_(std::make_shared<const Compiled>()) {}

Normalizer::Normalizer(std::vector<MaskRule> masks) {
  auto compiled = std::make_shared<Compiled>();
  compiled->regexes.reserve(masks.size());
  for (const MaskRule& rule : masks) {
    try {
      compiled->regexes.emplace_back(rule.pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      throw SignatureError(fmt::format("{}: mask pattern '{}' is not a valid regex: {}",
                                       rule.origin.empty() ? "<mask>" : rule.origin, rule.pattern,
                                       e.what()));
    }
  }
  compiled->rules = std::move(masks);
  compiled_ = std::move(compiled);
}

Normalizer Normalizer::from_config_string(std::string_view text, const std::string& source) {
  toml::table config;
  try {
    config = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw SignatureError(fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                     e.source().begin.column, e.description()));
  }
  std::vector<MaskRule> rules;
  const toml::node* masks = config.get("mask");
  if (masks == nullptr) return Normalizer(std::move(rules));
  const toml::array* array = masks->as_array();
  if (array == nullptr) {
    throw SignatureError(fmt::format("{}:{}: 'mask' must be an array of tables ([[mask]])", source,
                                     masks->source().begin.line));
  }
  for (const toml::node& node : *array) {
    const toml::table* table = node.as_table();
    const auto line = node.source().begin.line;
    if (table == nullptr) {
      throw SignatureError(fmt::format("{}:{}: each mask must be a table ([[mask]])", source, line));
    }
    auto string_key = [&](const char* key, bool required) -> std::string {
      const toml::node* value = table->get(key);
      if (value == nullptr) {
        if (required) throw SignatureError(fmt::format("{}:{}: mask lacks '{}'", source, line, key));
        return {};
      }
      const auto* str = value->as_string();
      if (str == nullptr) {
        throw SignatureError(fmt::format("{}:{}: mask '{}' must be a string", source,
                                         value->source().begin.line, key));
      }
      return str->get();
    };
    MaskRule rule;
    rule.pattern = string_key("pattern", true);
    rule.replace = string_key("replace", true);
    std::string name = string_key("name", false);
    // Point at the pattern's own line: that is what a user has to fix.
    const auto pattern_line = table->get("pattern")->source().begin.line;
    rule.origin = fmt::format("{}:{}", source, pattern_line);
    if (!name.empty()) rule.origin += fmt::format(" ({})", name);
    rules.push_back(std::move(rule));
  }
  return Normalizer(std::move(rules));
}

Normalizer Normalizer::from_config_file(const std::string& path) {
  std::string text;
  {
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
      throw SignatureError(fmt::format("{}: cannot open signature mask config: {}", path, std::strerror(errno)));
    }
    char buffer[4096];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, got);
    const bool failed = std::ferror(file) != 0;
    std::fclose(file);
    if (failed) throw SignatureError(fmt::format("{}: read error", path));
  }
  return from_config_string(text, path);
}

std::string Normalizer::normalize(std::string_view message) const {
  if (compiled_->regexes.empty()) return normalize_builtin(message);
  if (message.size() > kMaxMessageBytes) message = message.substr(0, kMaxMessageBytes);
  std::string text(message);
  for (std::size_t k = 0; k < compiled_->regexes.size(); ++k) {
    text = std::regex_replace(text, compiled_->regexes[k], compiled_->rules[k].replace);
  }
  return normalize_builtin(text);
}

Signature Normalizer::signature(std::string_view message) const {
  Signature sig;
  sig.normalized = normalize(message);
  sig.hash = fnv1a64(sig.normalized);
  return sig;
}

const std::vector<MaskRule>& Normalizer::masks() const { return compiled_->rules; }

}  // namespace flakelab::results
