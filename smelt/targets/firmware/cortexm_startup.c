/* smelt bench firmware for Cortex-M under QEMU: vector table, reset handler, fault handler.
 * Written for smelt (no vendor code). The linker script (cortexm_sections.ld) provides the
 * symbols used here. */
#include <stdint.h>

#include "smelt_io.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

void Reset_Handler(void);
void Fault_Handler(void);
void smelt_fault_report(const uint32_t *frame, uint32_t exc_return);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)

/* Initial stack pointer, then the 15 system exceptions. No interrupt is ever enabled. */
__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,
    Reset_Handler,
    Fault_Handler,  /* NMI */
    Fault_Handler,  /* HardFault */
    Fault_Handler,  /* MemManage */
    Fault_Handler,  /* BusFault */
    Fault_Handler,  /* UsageFault */
    Fault_Handler,  /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Fault_Handler,  /* SVCall */
    Fault_Handler,  /* DebugMonitor */
    0,
    Fault_Handler,  /* PendSV */
    Fault_Handler,  /* SysTick */
};

void Reset_Handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;

#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* QEMU resets CPACR to 0: grant full access to CP10/CP11 before any FPU/MVE instruction. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    while (dst < __data_end)
        *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end; ++dst)
        *dst = 0;
    smelt_io_exit(smelt_bench_main());
}

/* Every fault lands here: pass the stacked exception frame (MSP: nothing runs on PSP). */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm__ volatile(
        "mrs r0, msp\n\t"
        "mov r1, lr\n\t"
        "ldr r2, =smelt_fault_report\n\t"
        "bx r2\n\t"
        ".ltorg");
}

static void write_word(const char *name, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    char buf[12];
    int i;

    smelt_io_write(name);
    buf[0] = '0';
    buf[1] = 'x';
    for (i = 0; i < 8; ++i)
        buf[2 + i] = digits[(value >> (28 - 4 * i)) & 15];
    buf[10] = ' ';
    buf[11] = '\0';
    smelt_io_write(buf);
}

void smelt_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    smelt_io_write("\nsmelt-fault ");
    write_word("exception=", SCB_ICSR & 0x1FFu);
    write_word("pc=", frame[6]);
    write_word("lr=", frame[5]);
#if __ARM_ARCH >= 7
    write_word("cfsr=", SCB_CFSR);
    write_word("hfsr=", SCB_HFSR);
#endif
    smelt_io_write("\n");
    smelt_io_exit(3);
}
