// The exec floor's program: static, returns at once (what any exec costs here).
int main(void) { return 0; }
