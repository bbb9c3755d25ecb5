/* cmd_embed.c: placeholder until the encoder lands (semdex embed, semdex info). */
#include "cli.h"
int cmd_embed(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "semdex embed: not available yet\n");
    return 2;
}
int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "semdex info: not available yet\n");
    return 2;
}
