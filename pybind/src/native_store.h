// flakelab.Results' native half: a results DB opened read-mostly, its tables as columns
// (columns.h) for the Python side to type (flakelab/_frames.py).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/results/query.h"
#include "flakelab/results/store.h"

namespace flakelab::python {

class NativeStore {
 public:
  // FileNotFoundError if `path` does not exist (a Store would create it).
  explicit NativeStore(const std::string& path);

  // One row per cell (scenario x placement x params x CPU model), ordered by cell.
  pybind11::dict cells();
  // One row per run, by start time then id: its record, host and outcome counts.
  pybind11::dict runs();
  // One row per trial, by run id then index (only `run_id` and/or signature `hash` if given).
  pybind11::dict trials(std::optional<int64_t> run_id, std::optional<std::string> hash);
  // Failure signatures, most frequent first.
  pybind11::dict signatures();
  // Planned cells that could not run on their machine, with the reason.
  pybind11::dict skipped();
  std::vector<int64_t> run_ids() const { return store_->run_ids(); }
  std::string path() const { return store_->path(); }

 private:
  std::unique_ptr<results::Store> store_;
  std::unique_ptr<results::Query> query_;
};

}  // namespace flakelab::python
