// skouterd's configuration file (`--config`): a YAML mapping whose keys are long flags
// without their `--`. This reads the file's shape only; each value then goes through
// the same checks as the same flag on the command line.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace skouter::daemon {

struct ConfigSetting {
  enum class Shape { kScalar, kList, kMapping };

  std::string key;
  Shape shape = Shape::kScalar;
  // kScalar: the value as written; kList: each item; kMapping: each entry as "KEY=VALUE".
  std::vector<std::string> values;
  int line = 0;  // of the key, counted from 1
};

// Its message starts with the file ("PATH: ..." or "PATH:LINE: ...").
class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The settings of the file at `path`, in the file's order; an empty file has none.
// Throws ConfigFileError when the file cannot be read, is not YAML, is not a mapping,
// repeats a key, or has a value that is empty or not a single value, a list of single
// values or a mapping of single values.
std::vector<ConfigSetting> readConfigFile(const std::string& path);

}  // namespace skouter::daemon
