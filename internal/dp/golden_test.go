package dp

// goldenFixedSeed is what TestLaplaceFixedSeed's draws were when the
// samplers were written, from ChaCha8 seeded with 42.
var goldenFixedSeed = []int64{-2, 1, 0, -1, -9, 15, 21, -13, -64612, 952211, -1233809, -676228, 0, 0, 0, 0, -95, 26, -27, -9, -1}
