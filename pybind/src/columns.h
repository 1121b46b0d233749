// Query results handed to Python as columns: a dict {name: list}, in column order, that the
// package's Python side turns into a typed pandas.DataFrame (columns kept even with no rows).
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace flakelab::python {

class Columns {
 public:
  explicit Columns(const std::vector<std::string>& names) {
    for (const auto& name : names) data_[pybind11::str(name)] = pybind11::list();
  }
  // `name` must be one of the constructor's names (a typo is a KeyError, not a new column).
  template <typename T>
  void add(const char* name, T&& value) {
    pybind11::list column = data_[pybind11::str(name)].template cast<pybind11::list>();
    if constexpr (std::is_base_of_v<pybind11::handle, std::decay_t<T>>) {
      column.append(value);  // already a Python object (e.g. None for a NULL)
    } else {
      column.append(pybind11::cast(std::forward<T>(value)));
    }
  }
  const pybind11::dict& dict() const { return data_; }

 private:
  pybind11::dict data_;
};

}  // namespace flakelab::python
