/*
 * plugin.c - Parley's mosquitto plugin entry points (plugin API v5):
 * version negotiation, option parsing, callback registration and cleanup.
 * Each concern lives in its own file.
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <string.h>

static mosquitto_plugin_id_t *g_id;

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    g_id = identifier;
    *userdata = NULL;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: plugin loaded with %d option(s)", option_count);
    for (int i = 0; i < option_count; i++)
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "parley: option %s = %s", options[i].key,
                             options[i].value ? options[i].value : "");
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    return MOSQ_ERR_SUCCESS;
}
