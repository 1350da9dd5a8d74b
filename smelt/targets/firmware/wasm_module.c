/* smelt wasm32 module glue: the model's input and output buffers and one run function, exported
 * to JavaScript (<name>.mjs writes the inputs, calls smelt_run, reads the outputs). bench_data.h
 * (generated) declares the buffers and SMELT_RUN(). */
#include "bench_data.h"

void *smelt_input(int i);
void *smelt_output(int i);
int smelt_run(void);

void *smelt_input(int i)
{
    return (void *)smelt_inputs[i].bytes;
}

void *smelt_output(int i)
{
    return (void *)smelt_outputs[i].bytes;
}

int smelt_run(void)
{
    return SMELT_RUN();
}
