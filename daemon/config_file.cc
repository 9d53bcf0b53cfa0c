#include "daemon/config_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace skouter::daemon {

namespace {

std::string lineOf(const YAML::Mark& mark) { return std::to_string(mark.line + 1); }

}  // namespace

std::vector<ConfigSetting> readConfigFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigFileError(path + ": cannot read it: " + std::strerror(errno));
  std::stringstream text;
  text << file.rdbuf();

  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& error) {
    throw ConfigFileError(path + ":" + lineOf(error.mark) + ": not valid YAML: " + error.msg);
  }
  if (root.IsNull()) return {};
  if (!root.IsMap()) {
    throw ConfigFileError(path + ":" + lineOf(root.Mark()) +
                          ": expected a mapping of flag names to values, like 'policy: PATH'");
  }

  std::vector<ConfigSetting> settings;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    const std::string where = path + ":" + lineOf(key.Mark()) + ": ";
    if (!key.IsScalar()) throw ConfigFileError(where + "a key must be a flag name");
    ConfigSetting setting{key.Scalar(), ConfigSetting::Shape::kScalar, {}, key.Mark().line + 1};
    const std::string at_key = where + setting.key + ": ";
    if (!seen.insert(setting.key).second) throw ConfigFileError(at_key + "given more than once");
    if (value.IsNull()) {
      throw ConfigFileError(at_key + "has no value (leave the key out for the default)");
    } else if (value.IsScalar()) {
      setting.values.push_back(value.Scalar());
    } else if (value.IsSequence()) {
      setting.shape = ConfigSetting::Shape::kList;
      for (const auto& item : value) {
        if (!item.IsScalar()) throw ConfigFileError(at_key + "each list item must be one value");
        setting.values.push_back(item.Scalar());
      }
    } else {
      setting.shape = ConfigSetting::Shape::kMapping;
      for (const auto& item : value) {
        if (!item.first.IsScalar() || !item.second.IsScalar()) {
          throw ConfigFileError(at_key + "each entry must map a name to one value");
        }
        setting.values.push_back(item.first.Scalar() + "=" + item.second.Scalar());
      }
    }
    settings.push_back(std::move(setting));
  }
  return settings;
}

}  // namespace skouter::daemon
