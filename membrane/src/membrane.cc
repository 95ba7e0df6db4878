namespace snap {}
