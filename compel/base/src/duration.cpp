#include "flakelab/base/duration.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace flakelab::base {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t ns;
};
// Largest first: format_duration picks the first that divides exactly.
constexpr std::array<Unit, 6> kUnits{{{"h", 3'600'000'000'000},
                                      {"m", 60'000'000'000},
                                      {"s", 1'000'000'000},
                                      {"ms", 1'000'000},
                                      {"us", 1'000},
                                      {"ns", 1}}};

[[noreturn]] void refuse(std::string_view text, std::string_view why) {
  throw std::invalid_argument("'" + std::string(text) + "': " + std::string(why) +
                              " (a duration is a number and a unit: ns, us, ms, s, m or h, e.g. 500us, 2.5s)");
}

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
  const std::string_view number = text.substr(0, digits), suffix = text.substr(digits);
  if (number.empty()) refuse(text, "no number");
  if (suffix.empty()) refuse(text, "no unit");
  const Unit* unit = nullptr;
  for (const Unit& u : kUnits)
    if (u.suffix == suffix) unit = &u;
  if (!unit) refuse(text, "unknown unit '" + std::string(suffix) + "'");

  // Whole part and fraction separately, so "1.5us" is exactly 1500ns (no binary rounding).
  const size_t dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty()) ||
      fraction.find('.') != std::string_view::npos)
    refuse(text, "not a decimal number");
  uint64_t w = 0;
  if (auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
      ec != std::errc() || end != whole.data() + whole.size())
    refuse(text, "too large");
  const auto max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const auto scale = static_cast<uint64_t>(unit->ns);
  if (w > max / scale) refuse(text, "too large");
  uint64_t ns = w * scale;
  // Each fraction digit is a tenth of the one before; what is left must end at a whole ns.
  uint64_t place = scale;
  for (char c : fraction) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (place % 10 != 0) {
      if (digit != 0) refuse(text, "finer than a nanosecond");
      continue;
    }
    place /= 10;
    ns += digit * place;
  }
  if (ns > max) refuse(text, "too large");
  return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

std::string format_duration(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  if (ns == 0) return "0";
  for (const Unit& u : kUnits)
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + std::string(u.suffix);
  return std::to_string(ns) + "ns";  // unreachable: ns divides everything
}

}  // namespace flakelab::base
