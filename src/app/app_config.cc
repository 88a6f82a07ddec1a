#include "commands.h"

namespace sluice::app {

std::optional<config::appliance_config> load_app_config(const std::string& config_path,
                                                        const std::string& data_dir_override,
                                                        std::string* error) {
    std::optional<config::appliance_config> cfg =
        config_path.empty() ? std::optional(config::default_config())
                            : config::load_config(config_path, error);
    if (!cfg) return std::nullopt;
    if (!data_dir_override.empty()) {
        cfg->data_dir = data_dir_override;
        if (std::string m = config::validate(*cfg); !m.empty()) {
            if (error) *error = "--data-dir: " + m;
            return std::nullopt;
        }
    }
    return cfg;
}

}  // namespace sluice::app
